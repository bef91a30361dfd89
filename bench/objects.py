#!/usr/bin/env python3
"""Object storage under load (issue 23), all on loopback: `veritrail serve`
with `--store s3://…` against moto_server (PyPI moto[server]) holding an
Object Lock bucket in COMPLIANCE mode.

  bench/objects.py [--secs 20] [--probes 150] [--nice-moto 10] [--moto-cpu 0.2 --ingest-only]
  bench/objects.py --rounds 6 [--control]   (the ingest comparison alone, order alternated)

1. Ingest: 4 clients post 1,000-event NDJSON batches as fast as the server
   acknowledges them, for SECS: without object storage, then with the
   drainer (--durability local). Then how long the bucket takes to catch
   up once the load stops, the drainer's upload rate, and PUTs per million
   events (from /metrics).
2. --durability object: the same clients (ingest rate), and a single-event
   POST every 100 ms whose round trip includes the upload of the tiles and
   the checkpoint covering it.

moto is a Python server on the same 2 cores as everything else (run with
`nice` so that it takes what the server leaves); a real S3 endpoint is
another machine. The upload rate is moto's, not S3's.
"""
import argparse, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtbench import cleanup, free_port, metric, pct, req, start as _start, start_moto  # noqa: E402
import vtbench  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--secs", type=float, default=20)
ap.add_argument("--probes", type=int, default=150)
ap.add_argument("--nice-moto", type=int, default=10)
ap.add_argument("--idle-moto", action="store_true",
                help="run moto under SCHED_IDLE (only on CPU time the server leaves), the closest this "
                     "machine comes to an S3 endpoint on another machine")
ap.add_argument("--ingest-only", action="store_true",
                help="only the ingest comparison (phase 1), without waiting for the bucket to catch up")
ap.add_argument("--rounds", type=int, default=0,
                help="only the ingest comparison, N rounds, the two phases' order alternating (AB, BA, …), each "
                     "phase on a fresh server and data directory after a warm-up and a sync; prints each "
                     "round's ratio and the median")
ap.add_argument("--against", help="with --rounds: the second phase runs this other build, without --store (an A/B of two builds)")
ap.add_argument("--control", action="store_true",
                help="with --ingest-only: the second phase without --store too (an A/A control of the phases' order)")
ap.add_argument("--moto-cpu", type=float, default=None,
                help="confine moto to this fraction of one core (a cgroup quota), standing in for an S3 "
                     "endpoint on another machine; the bucket then lags and catches up after the load")
ap.add_argument("--closed-port", action="store_true",
                help="only compare ingest without object storage and with --store at a closed port "
                     "(the drainer never uploads: the cost of the tier on the server, without moto's CPU)")
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "veritrail"))
args = ap.parse_args()
VT = os.path.abspath(args.bin)
S3CTL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "s3ctl.py")
ENV = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")


def start(cmd):
    return _start(cmd, env=ENV)


BODY = "\n".join(json.dumps({"action": "bench.o", "actor": f"a{k}", "outcome": "success"}) for k in range(1000)).encode()


def ingest(addr, token, secs, probe=False):
    lat = []

    def prober(stop):
        n = 0
        while time.time() < stop - 2 and n < args.probes:
            t = time.time()
            s, b = req(addr, "POST", "/v1/logs/default/events", token, '{"action":"bench.probe","actor":"p"}')
            assert s == 201, b
            lat.append((time.time() - t) * 1000)
            n += 1
            time.sleep(0.1)

    return vtbench.post_batches(addr, token, secs, BODY, beside=[prober] if probe else []), lat


work = tempfile.mkdtemp(prefix="vt-objects-", dir=os.path.join(os.path.dirname(__file__), ".."))
procs = []
try:
    moto, endpoint = start_moto(args.nice_moto, args.moto_cpu, args.idle_moto)
    procs.append(moto)
    for b in ("bench-local", "bench-object"):
        subprocess.run([sys.executable, S3CTL, endpoint, "create-locked", b, "1"], check=True, capture_output=True)

    if args.rounds:
        import shutil, statistics

        cpu = vtbench.cpu

        def phase(name, tier, vt=VT):
            d = f"{work}/{name}"
            p, admin, addr = start([vt, "serve", "--data", d, "--listen", "127.0.0.1:0"] + tier); procs.append(p)
            s, out = req(addr, "POST", "/v1/tokens", admin, json.dumps({"role": "writer", "logs": ["default"]}))
            w = json.loads(out)["token"]
            ingest(addr, w, 3)
            os.sync(); time.sleep(2)
            c0, m0, g0 = cpu(p.pid, True), cpu(moto.pid)["all"], os.times()
            t0 = time.time()
            rate, _ = ingest(addr, w, args.secs)
            wall = time.time() - t0
            c1, m1, g1 = cpu(p.pid, True), cpu(moto.pid)["all"], os.times()
            top = vtbench.cores(c0, c1, wall, 6)
            total = sum(c1.values()) - sum(c0.get(k, 0) for k in c1)
            gen = (g1.user + g1.system - g0.user - g0.system) / wall
            print(f"  {name}: {rate:,.0f} events/s; cores used: server {total / wall:.2f} ({top}), "
                  f"moto {(m1 - m0) / wall:.2f}, load generator {gen:.2f}", file=sys.stderr, flush=True)
            p.terminate(); p.wait()
            subprocess.run(["chattr", "-R", "-a", "-i", d], stderr=subprocess.DEVNULL)
            shutil.rmtree(d, ignore_errors=True)
            os.sync(); time.sleep(2)
            return rate

        tier = [] if args.control or args.against else ["--store", "s3://bench-local/l", "--s3-endpoint", endpoint, "--object-scan-interval", "off"]
        second = "again without object storage (A/A control)" if args.control else "with `--store`, `--durability local`"
        other_vt = VT
        if args.against:
            other_vt = os.path.abspath(args.against)
            second = f"{args.against}, without object storage"
        print(f"| round | order | without object storage | {second} | ratio |")
        print("| ---: | --- | ---: | ---: | ---: |")
        ratios = []
        for r in range(args.rounds):
            # A fresh prefix per round: each store phase starts an empty log.
            t = [x.replace("s3://bench-local/l", f"s3://bench-local/l{r}") for x in tier]
            if r % 2 == 0:
                base, other, order = phase(f"a{r}", []), phase(f"b{r}", t, other_vt), "AB"
            else:
                other, base, order = phase(f"b{r}", t, other_vt), phase(f"a{r}", []), "BA"
            ratios.append(other / base)
            print(f"| {r + 1} | {order} | {base:,.0f} events/s | {other:,.0f} events/s | {other / base * 100:.1f} % |", flush=True)
        print(f"\nmedian ratio {statistics.median(ratios) * 100:.1f} % over {len(ratios)} rounds "
              f"({min(ratios) * 100:.1f}–{max(ratios) * 100:.1f} %), {args.secs:.0f} s per phase")
        sys.exit(0)

    rows = []
    # 1. Without object storage.
    p, admin, addr = start([VT, "serve", "--data", f"{work}/a", "--listen", "127.0.0.1:0"]); procs.append(p)
    s, out = req(addr, "POST", "/v1/tokens", admin, json.dumps({"role": "writer", "logs": ["default"]}))
    w = json.loads(out)["token"]
    ingest(addr, w, 3)
    base, _ = ingest(addr, w, args.secs)
    p.terminate(); p.wait()

    if args.closed_port:
        p, admin, addr = start([VT, "serve", "--data", f"{work}/z", "--listen", "127.0.0.1:0", "--store", "s3://closed/x",
                                "--s3-endpoint", f"http://127.0.0.1:{free_port()}", "--object-scan-interval", "off"]); procs.append(p)
        s, out = req(addr, "POST", "/v1/tokens", admin, json.dumps({"role": "writer", "logs": ["default"]}))
        w = json.loads(out)["token"]
        ingest(addr, w, 3)
        closed, _ = ingest(addr, w, args.secs)
        p.terminate(); p.wait()
        print("| measure | result |")
        print("| --- | ---: |")
        print(f"| HTTP NDJSON ingest, 4 clients × 1,000-event batches, no object storage | {base:,.0f} events/s |")
        print(f"| the same with `--store` at a closed port (no uploads; gate and drainer bookkeeping only) | {closed:,.0f} events/s ({closed / base * 100:.1f} %) |")
        sys.exit(0)

    # 2. With the drainer, --durability local.
    tier = [] if args.control else ["--store", "s3://bench-local/l", "--s3-endpoint", endpoint, "--object-scan-interval", "off"]
    p, admin, addr = start([VT, "serve", "--data", f"{work}/b", "--listen", "127.0.0.1:0"] + tier); procs.append(p)
    s, out = req(addr, "POST", "/v1/tokens", admin, json.dumps({"role": "writer", "logs": ["default"]}))
    w = json.loads(out)["token"]
    up0 = metric(addr, admin, 'veritrail_object_uploaded_size{log="default"}') or 0
    t0 = time.time()
    local, _ = ingest(addr, w, args.secs)
    stopped = time.time()
    s, st = req(addr, "GET", "/v1/logs/default/checkpoint", admin)
    target = int(st.decode().splitlines()[1])
    up_at_stop = metric(addr, admin, 'veritrail_object_uploaded_size{log="default"}')
    if args.ingest_only:
        print("| measure | result |")
        print("| --- | ---: |")
        print(f"| HTTP NDJSON ingest, 4 clients × 1,000-event batches, no object storage | {base:,.0f} events/s |")
        moto_cpu = "moto unconfined" if args.moto_cpu is None else f"moto confined to {args.moto_cpu} of a core"
        if args.control:
            print(f"| the same again on a second server, no object storage (control) | {local:,.0f} events/s ({local / base * 100:.1f} %) |")
            sys.exit(0)
        print(f"| the same with `--store` (drainer running, `--durability local`, {moto_cpu}) | {local:,.0f} events/s ({local / base * 100:.1f} %) |")
        print(f"| uploaded while the load ran; behind when it stopped | {up_at_stop - up0:,.0f} entries; {target - up_at_stop:,.0f} entries |")
        sys.exit(0)
    while (metric(addr, admin, 'veritrail_object_uploaded_size{log="default"}') or 0) < target and time.time() - stopped < 600:
        time.sleep(0.5)
    caught = time.time() - stopped
    upl = metric(addr, admin, 'veritrail_object_uploaded_size{log="default"}')
    puts = metric(addr, admin, "veritrail_object_puts_total") + metric(addr, admin, "veritrail_object_checkpoints_total")
    drain_rate = (upl - up0) / (time.time() - t0)
    p.terminate(); p.wait()

    # 3. --durability object.
    p, admin, addr = start([VT, "serve", "--data", f"{work}/c", "--listen", "127.0.0.1:0", "--store", "s3://bench-object/o",
                            "--s3-endpoint", endpoint, "--durability", "object", "--object-scan-interval", "off",
                            "--checkpoint-interval", "100ms"]); procs.append(p)
    s, out = req(addr, "POST", "/v1/tokens", admin, json.dumps({"role": "writer", "logs": ["default"]}))
    w = json.loads(out)["token"]
    # Latency alone first (no other load), then under the 4 clients.
    idle = []
    for _ in range(min(50, args.probes)):
        t = time.time()
        s, b = req(addr, "POST", "/v1/logs/default/events", w, '{"action":"bench.probe","actor":"p"}')
        assert s == 201, b
        idle.append((time.time() - t) * 1000)
        time.sleep(0.05)
    objrate, lat = ingest(addr, w, args.secs, probe=True)
    obj_puts = metric(addr, admin, "veritrail_object_puts_total") + metric(addr, admin, "veritrail_object_checkpoints_total")
    obj_size = metric(addr, admin, 'veritrail_object_uploaded_size{log="default"}')
    p.terminate(); p.wait()

    print("| measure | result | target |")
    print("| --- | ---: | --- |")
    print(f"| HTTP NDJSON ingest, 4 clients × 1,000-event batches, no object storage | {base:,.0f} events/s | — |")
    print(f"| the same with `--store` (drainer running, `--durability local`) | {local:,.0f} events/s ({local / base * 100:.1f} %) | ≥ 90 % |")
    print(f"| bucket behind when the load stopped; time to catch up | {target - up_at_stop:,.0f} entries; {caught:.1f} s | — |")
    print(f"| drainer upload rate into moto (entries in the bucket ÷ time) | {drain_rate:,.0f} entries/s | — |")
    print(f"| PUTs per million events (`--durability local`, 1 s checkpoints) | {puts / upl * 1e6:,.0f} | — |")
    print(f"| `--durability object`: ingest, same 4 clients | {objrate:,.0f} events/s | — |")
    print(f"| `--durability object`: PUTs per million events (100 ms checkpoints) | {obj_puts / obj_size * 1e6:,.0f} | — |")
    print(f"| `--durability object`: 1-event POST round trip, idle, {len(idle)} probes | p50 {pct(idle, 50):.0f} ms, p99 {pct(idle, 99):.0f} ms | — |")
    if lat:
        print(f"| `--durability object`: 1-event POST round trip under that load, {len(lat)} probes | p50 {pct(lat, 50):.0f} ms, p99 {pct(lat, 99):.0f} ms, max {max(lat):.0f} ms | — |")
finally:
    cleanup(procs, work)
