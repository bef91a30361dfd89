#!/usr/bin/env python3
"""What the drainer and the S3 endpoint cost per object, during a burst and
while the bucket catches up (issue 23), all on loopback: `veritrail serve
--store s3://…` against moto_server (PyPI moto[server]), Object Lock bucket.

  bench/drain_cost.py [--secs 20] [--catch-up 20] [--bin target/release/veritrail]

1. A 3 s warm-up, then SECS of full-rate batched ingest (4 clients, 1,000-event
   NDJSON batches): events/s, the cores each side used (the drainer thread,
   moto), objects stored per second, CPU per object, the server's peak memory.
2. Then CATCH_UP seconds with no ingest: the same figures while the drainer
   works off the backlog alone.

Objects are counted from /metrics (`veritrail_object_puts_total`, new objects
only), which moves as each chunk of uploads completes: over a short window the
count is approximate.
"""
import argparse, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vtbench  # noqa: E402
from vtbench import cleanup, metric, req, start_moto  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--secs", type=float, default=20)
ap.add_argument("--catch-up", type=float, default=20)
ap.add_argument("--nice-moto", type=int, default=10)
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "veritrail"))
args = ap.parse_args()
VT = os.path.abspath(args.bin)
S3CTL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "s3ctl.py")
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
BODY = "\n".join(json.dumps({"action": "bench.o", "actor": f"a{k}", "outcome": "success"}) for k in range(1000)).encode()


def peak_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0


work = tempfile.mkdtemp(prefix="vt-drain-cost-", dir=os.path.join(os.path.dirname(__file__), ".."))
procs = []
try:
    moto, endpoint = start_moto(args.nice_moto)
    procs.append(moto)
    subprocess.run([sys.executable, S3CTL, endpoint, "create-locked", "bench-cost", "1"], check=True, capture_output=True)
    p, admin, addr = vtbench.start([VT, "serve", "--data", f"{work}/d", "--listen", "127.0.0.1:0", "--store", "s3://bench-cost/l",
                                    "--s3-endpoint", endpoint, "--object-scan-interval", "off"], env=ENV)
    procs.append(p)
    s, out = req(addr, "POST", "/v1/tokens", admin, json.dumps({"role": "writer", "logs": ["default"]}))
    w = json.loads(out)["token"]
    vtbench.post_batches(addr, w, 3, BODY)

    def window(secs, load):
        c0, m0 = vtbench.cpu(p.pid, True), vtbench.cpu(moto.pid)["all"]
        n0 = metric(addr, admin, "veritrail_object_puts_total") or 0
        t0 = time.time()
        rate = vtbench.post_batches(addr, w, secs, BODY) if load else (time.sleep(secs) or 0)
        wall = time.time() - t0
        c1, m1 = vtbench.cpu(p.pid, True), vtbench.cpu(moto.pid)["all"]
        n = (metric(addr, admin, "veritrail_object_puts_total") or 0) - n0
        drain = c1.get("veritrail-drain", 0) - c0.get("veritrail-drain", 0)
        return rate, wall, n, drain, m1 - m0, vtbench.cores(c0, c1, wall, 6)

    print("| phase | ingest | objects stored | drainer | moto | server peak memory |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, secs, load in (("burst", args.secs, True), ("catch-up, no ingest", args.catch_up, False)):
        rate, wall, n, drain, mo, top = window(secs, load)
        per = lambda cpu: f"{cpu / n * 1e6:,.0f} µs/object" if n else "—"
        print(f"| {name} ({wall:.0f} s) | {rate:,.0f} events/s | {n / wall:,.0f}/s | {drain / wall:.2f} cores, {per(drain)} | "
              f"{mo / wall:.2f} cores, {per(mo)} | {peak_mib(p.pid):,.0f} MiB |", flush=True)
        print(f"  cores: {top}", file=sys.stderr, flush=True)
    s, st = req(addr, "GET", "/v1/logs/default/checkpoint", admin)
    size = int(st.decode().splitlines()[1])
    up = metric(addr, admin, 'veritrail_object_uploaded_size{log="default"}') or 0
    print(f"\nlog size {size:,}; the bucket's checkpoint covers {up:,.0f}")
finally:
    cleanup(procs, work)
