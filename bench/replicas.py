#!/usr/bin/env python3
"""Read replicas (issue 23), all on loopback: a writer drains a log into an
Object Lock bucket on moto_server; `veritrail serve --read-only` replicas
copy it from there and serve it.

  bench/replicas.py [--events 1000000] [--secs 10] [--replicas 1,2,4]

1. The writer ingests EVENTS events (10,000-event NDJSON batches) and its
   drainer uploads them; how long the bucket takes to hold them all.
2. A replica started on an empty data directory: how long until its copy
   holds the writer's checkpoint over all EVENTS (every entry fetched from
   the bucket and checked against the signed tree), and until its query
   index covers them too.
3. Read fan-out: wrk (-t1 -c16, bench/wrk/tiles.lua: random full hash
   tiles) against the writer alone, then against 1, 2 and 4 replicas at
   once (one wrk per replica); requests/s summed.

Everything runs on the same 2 cores: moto (Python, nice 10), the writer,
the replicas and wrk. The fan-out figures show what one machine's cores
give; on separate machines each replica adds its own.
"""
import argparse, http.client, json, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtbench import cleanup, metric, req, start as _start, start_moto  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--events", type=int, default=1_000_000)
ap.add_argument("--secs", type=int, default=10)
ap.add_argument("--replicas", default="1,2,4")
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "veritrail"))
args = ap.parse_args()
VT = os.path.abspath(args.bin)
HERE = os.path.dirname(os.path.abspath(__file__))
S3CTL = os.path.join(HERE, "..", "tools", "s3ctl.py")
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
counts = [int(x) for x in args.replicas.split(",")]
if shutil.which("wrk") is None:
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)


def size(addr):
    h, port = addr.rsplit(":", 1)
    c = http.client.HTTPConnection(h, int(port), timeout=30)
    c.request("GET", "/v1/logs/default/checkpoint")
    r = c.getresponse()
    b = r.read().decode()
    return int(b.splitlines()[1]) if r.status == 200 else 0


def wrk_on(addrs, script):
    ps = [subprocess.Popen(["wrk", "-t1", "-c16", f"-d{args.secs}s", "-s", script, f"http://{a}"],
                           stdout=subprocess.PIPE, text=True) for a in addrs]
    total = 0.0
    for p in ps:
        out, _ = p.communicate()
        for line in out.splitlines():
            if line.startswith("Requests/sec:"):
                total += float(line.split()[1])
            if "Non-2xx" in line:
                raise SystemExit(f"wrk saw errors: {out}")
    return total


work = tempfile.mkdtemp(prefix="vt-replicas-", dir=os.path.join(HERE, ".."))
procs = []
try:
    moto, endpoint = start_moto(10)
    procs.append(moto)
    subprocess.run([sys.executable, S3CTL, endpoint, "create-locked", "fanout", "1"], check=True, capture_output=True, env=ENV)
    store = ["--store", "s3://fanout/p", "--s3-endpoint", endpoint]

    # 1. The writer.
    p, admin, waddr = _start([VT, "serve", "--data", f"{work}/w", "--listen", "127.0.0.1:0", "--object-scan-interval", "off"] + store, env=ENV)
    procs.append(p)
    s, out = req(waddr, "POST", "/v1/tokens", admin, json.dumps({"role": "writer", "logs": ["default"]}))
    wtok = json.loads(out)["token"]
    body = "\n".join(json.dumps({"action": "user.login", "actor": f"user{k % 997}", "outcome": "success" if k % 7 else "failure",
                                 "source": {"host": f"web{k % 13}", "app": "sshd"},
                                 "message": f"Accepted password for user{k % 997} from 10.1.{k % 250}.{k % 199} port 22 ssh2"})
                     for k in range(10_000)).encode()
    t0 = time.time()
    sent = 0
    while sent < args.events:
        s, b = req(waddr, "POST", "/v1/logs/default/events", wtok, body, ctype="application/x-ndjson")
        assert s == 201, b
        sent += 10_000
    ingest_s = time.time() - t0
    n = size(waddr)
    while size(waddr) < sent:
        time.sleep(0.2)
    n = size(waddr)
    while (metric(waddr, admin, 'veritrail_object_uploaded_size{log="default"}') or 0) < n:
        time.sleep(0.5)
    drained_s = time.time() - t0
    vkey = subprocess.run([VT, "log", "list", "--data", f"{work}/w"], capture_output=True, text=True).stdout
    vkey = next(l.split()[1] for l in vkey.splitlines() if l.split() and l.split()[0] == "default")

    # 2. A replica from nothing.
    def replica(i):
        return _start([VT, "serve", "--data", f"{work}/r{i}", "--listen", "127.0.0.1:0", "--read-only",
                       "--log-key", f"default={vkey}", "--replica-poll", "200ms"] + store, env=ENV)

    t0 = time.time()
    p, radmin, r1 = replica(1)
    procs.append(p)
    while size(r1) < n:
        time.sleep(0.2)
    copy_s = time.time() - t0
    while (metric(r1, radmin, 'veritrail_index_lag_entries{log="default"}') or 0) > 0:
        time.sleep(0.2)
    index_s = time.time() - t0
    addrs = [r1]
    for i in range(2, max(counts) + 1):
        p, _, a = replica(i)
        procs.append(p)
        addrs.append(a)
    for a in addrs:
        while size(a) < n:
            time.sleep(0.5)

    # 3. Fan-out.
    script = os.path.join(work, "tiles.lua")
    with open(os.path.join(HERE, "wrk", "tiles.lua")) as f:
        open(script, "w").write(f.read().replace("TILES", str(n // 256)))
    writer_rps = wrk_on([waddr], script)
    fan = [(k, wrk_on(addrs[:k], script)) for k in counts]

    print("| measure | result |")
    print("| --- | ---: |")
    print(f"| writer: {n:,} events ingested (10,000-event batches) | {ingest_s:.1f} s |")
    print(f"| … and all of them in the bucket (drainer into moto) | {drained_s:.1f} s after the first batch |")
    print(f"| replica from an empty data directory: its copy holds the writer's checkpoint over all {n:,} | {copy_s:.1f} s ({n / copy_s:,.0f} entries/s) |")
    print(f"| … and its query index covers them | {index_s:.1f} s |")
    print(f"| hash tiles served by the writer alone (wrk -t1 -c16, random full tiles) | {writer_rps:,.0f} requests/s |")
    for k, rps in fan:
        print(f"| hash tiles served by {k} replica(s) at once (one wrk each) | {rps:,.0f} requests/s |")
finally:
    cleanup(procs, work)
