#!/usr/bin/env python3
"""What the server alone makes of the forwarder's events (issue 20): the
ceiling `veritrail forward` cannot pass on this machine, whatever the
forwarder does.

An auth.log of SIZE MiB (bench/authlog.py) is shipped once by `veritrail
forward --once --from-start` to a server; the events it stored (the
forwarder's mapping of each line, without `received_at`) are read back and
posted again, as the forwarder batches them (8,000 lines a request), by 4
clients to a fresh server — no forwarder, no spool, the bodies made
beforehand. Prints the lines/s and the MB/s of the original auth.log that
this equals, beside the forwarder's own run.

  bench/forward_ceiling.py [--mib 128] [--rounds 3] [--bin target/release/veritrail]
"""
import argparse, http.client, json, os, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--mib", type=int, default=128)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "veritrail"))
args = ap.parse_args()
VT = os.path.abspath(args.bin)
here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import vtbench  # noqa: E402
from vtbench import cleanup, req  # noqa: E402

work = tempfile.mkdtemp(prefix="vt-fwd-ceiling-", dir=os.path.join(here, ".."))
procs = []

def start(data):
    p, admin, addr = vtbench.start([VT, "serve", "--data", data, "--listen", "127.0.0.1:0"])
    procs.append(p)
    s, out = req(addr, "POST", "/v1/tokens", admin, json.dumps({"role": "writer", "logs": ["default"]}))
    assert s == 201, out
    return p, admin, addr, json.loads(out)["token"]

try:
    log = os.path.join(work, "auth.log")
    subprocess.run([sys.executable, os.path.join(here, "authlog.py"), log, str(args.mib)], check=True)
    size = os.path.getsize(log)
    with open(log, "rb") as f:
        lines = sum(1 for _ in f)
    # 1. The forwarder, as bench/forward.sh runs it.
    p, admin, addr, w = start(os.path.join(work, "a"))
    t0 = time.time()
    subprocess.run([VT, "forward", "--server", f"http://{addr}", "--token", w, "--once", "--from-start",
                    "--state", os.path.join(work, "state"), "--spool", os.path.join(work, "spool"), log],
                   check=True, stderr=subprocess.DEVNULL)
    fwd = time.time() - t0
    print(f"| `veritrail forward --once`, {args.mib} MiB auth.log ({lines:,} lines) | {size / fwd / 1e6:.1f} MB/s, {lines / fwd:,.0f} lines/s |", flush=True)
    p.terminate(); p.wait()
    # 2. Its events, read back.
    out = subprocess.run([VT, "tail", "--data", os.path.join(work, "a"), "--from", "0", "--format", "ndjson"],
                         check=True, capture_output=True).stdout.splitlines()
    events = []
    for l in out:
        e = json.loads(l)["event"]
        e.pop("received_at", None)
        events.append(json.dumps(e, separators=(",", ":")))
    assert len(events) == lines, (len(events), lines)
    avg = sum(len(e) for e in events) / len(events)
    bodies = ["\n".join(events[k:k + 8000]).encode() for k in range(0, len(events), 8000)]
    del events, out
    print(f"  events: {avg:.0f} bytes on average against {size / lines:.0f} per line", file=sys.stderr, flush=True)
    # 3. The same bodies straight to a fresh server.
    for r in range(args.rounds):
        p, admin, addr, w = start(os.path.join(work, f"b{r}"))
        nxt = [0]; lock = threading.Lock()
        def client():
            h, port = addr.rsplit(":", 1)
            c = http.client.HTTPConnection(h, int(port), timeout=120)
            while True:
                with lock:
                    k = nxt[0]; nxt[0] += 1
                if k >= len(bodies):
                    return
                c.request("POST", "/v1/logs/default/events", body=bodies[k],
                          headers={"Authorization": f"Bearer {w}", "Content-Type": "application/x-ndjson"})
                resp = c.getresponse(); resp.read()
                assert resp.status == 201, resp.status
        c0 = vtbench.cpu(p.pid, True); g0 = os.times()
        t0 = time.time()
        ts = [threading.Thread(target=client) for _ in range(4)]
        for t in ts: t.start()
        for t in ts: t.join()
        secs = time.time() - t0
        g1 = os.times()
        gen = (g1.user + g1.system - g0.user - g0.system) / secs
        print(f"  cores: {vtbench.cores(c0, vtbench.cpu(p.pid, True), secs)}; load generator {gen:.2f}", file=sys.stderr, flush=True)
        print(f"| round {r + 1}: the forwarder's events posted straight to a server (4 clients × 8,000-event batches) | {size / secs / 1e6:.1f} MB/s of auth.log, {lines / secs:,.0f} events/s |", flush=True)
        p.terminate(); p.wait()
finally:
    cleanup(procs, work)
