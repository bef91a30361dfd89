#!/usr/bin/env python3
"""Witnessing under load (issue 22), all on loopback: three `veritrail
witness` servers and a `veritrail serve` asking them (quorum 2).

  bench/witness.py [--secs 20] [--probes 200]

1. Ingest: 4 clients post 1,000-event NDJSON batches as fast as the server
   acknowledges them, for SECS, without witnesses and then with the three.
2. Latency: during the witnessed load, a single-event POST with
   ?wait=witnessed every 100 ms; its round trip is the time from sending to
   holding a receipt whose checkpoint two witnesses cosigned. Also the round
   trip of a plain POST (ack after fdatasync) for comparison.
"""
import argparse, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vtbench import cleanup, pct, req, start  # noqa: E402
import vtbench  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--secs", type=float, default=20)
ap.add_argument("--probes", type=int, default=200)
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "veritrail"))
args = ap.parse_args()
VT = os.path.abspath(args.bin)

def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout

BODY = "\n".join(json.dumps({"action": "bench.w", "actor": f"a{k}", "outcome": "success"}) for k in range(1000)).encode()

def ingest(addr, token, secs, probe=False):
    witnessed, plain = [], []
    def prober(stop):
        n = 0
        while time.time() < stop - 2 and n < args.probes:
            t = time.time()
            s, b = req(addr, "POST", "/v1/logs/default/events?wait=witnessed", token, '{"action":"bench.probe","actor":"p"}')
            if s == 201:
                witnessed.append((time.time() - t) * 1000)
            t = time.time()
            req(addr, "POST", "/v1/logs/default/events", token, '{"action":"bench.probe","actor":"p"}')
            plain.append((time.time() - t) * 1000)
            n += 1
            time.sleep(0.1)
    rate = vtbench.post_batches(addr, token, secs, BODY, beside=[prober] if probe else [])
    return rate, witnessed, plain

work = tempfile.mkdtemp(prefix="vt-witness-", dir=os.path.join(os.path.dirname(__file__), ".."))
procs = []
try:
    # Without witnesses.
    p, admin, addr = start([VT, "serve", "--data", f"{work}/a", "--listen", "127.0.0.1:0"]); procs.append(p)
    s, out = req(addr, "POST", "/v1/tokens", admin, json.dumps({"role": "writer", "logs": ["default"]}))
    w = json.loads(out)["token"]
    ingest(addr, w, 3)
    base, _, _ = ingest(addr, w, args.secs)
    p.terminate(); p.wait()
    # With three witnesses, quorum 2.
    run([VT, "init", "--data", f"{work}/b"])
    p0, admin, addr = start([VT, "serve", "--data", f"{work}/b", "--listen", "127.0.0.1:0"])
    p0.terminate(); p0.wait()
    keys = [l.split()[1] for l in run([VT, "log", "list", "--data", f"{work}/b"]).splitlines() if l.split() and l.split()[0] in ("default", "_system")]
    witnesses = []
    for i in range(3):
        d = f"{work}/w{i}"
        vkey = run([VT, "witness", "init", "--data", d, "--name", f"w{i}.bench"]).strip()
        cmd = [VT, "witness", "serve", "--data", d, "--listen", "127.0.0.1:0"]
        for k in keys:
            cmd += ["--log-key", k]
        wp, _, waddr = start(cmd); procs.append(wp)
        witnesses.append(f"{vkey}@http://{waddr}")
    cmd = [VT, "serve", "--data", f"{work}/b", "--listen", "127.0.0.1:0", "--witness-quorum", "2"]
    for x in witnesses:
        cmd += ["--witness", x]
    p, _, addr = start(cmd); procs.append(p)
    s, out = req(addr, "POST", "/v1/tokens", admin, json.dumps({"role": "writer", "logs": ["default"]}))
    assert s == 201, out
    w = json.loads(out)["token"]
    ingest(addr, w, 3)
    withw, lat, plain = ingest(addr, w, args.secs, probe=True)
    p.terminate(); p.wait()
    print("| measure | result | target |")
    print("| --- | ---: | --- |")
    print(f"| HTTP NDJSON ingest, 4 clients × 1,000-event batches, no witnesses | {base:,.0f} events/s | — |")
    print(f"| the same with 3 witnesses (quorum 2) | {withw:,.0f} events/s ({withw / base * 100:.1f} %) | ≥ 95 % |")
    if lat:
        print(f"| POST ?wait=witnessed round trip during that load, {len(lat)} probes | p50 {pct(lat, 50):.0f} ms, p99 {pct(lat, 99):.0f} ms, max {max(lat):.0f} ms | p50 ≤ 300 ms, p99 ≤ 1 s |")
        print(f"| plain POST (ack after fdatasync) round trip, same load | p50 {pct(plain, 50):.0f} ms, p99 {pct(plain, 99):.0f} ms | — |")
finally:
    cleanup(procs, work)
