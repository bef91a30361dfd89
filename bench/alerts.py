#!/usr/bin/env python3
"""Alert rules and live streams under load (issue 21), against a real
`veritrail serve` on loopback; every figure measured here, printed as a
Markdown table.

  bench/alerts.py [--secs 20] [--rules 50] [--subscribers 100] [--rate 10000]
  bench/alerts.py --load-only --rounds 6   # the ingest drop, lag and loaded latency, six pairs
  bench/alerts.py --streams-only           # only the SSE subscribers

1. Ingest: 4 clients post 1,000-event NDJSON batches as fast as the server
   acknowledges them, for SECS, without rules and then with RULES rules
   active (thresholds, sequences, new values, matches, absences, integrity
   checks over the same events). Reports events/s both ways, the drop, and
   how far behind the rules fell at worst (`veritrail_rules_lag_entries`,
   sampled every 250 ms, in seconds of ingest).
2. Latency: during the loaded run, a probe event every 50 ms fires a rule
   whose webhook goes to a receiver here; latency = the webhook's arrival
   minus the probe's 201. p50 and p99.
3. Streams: SUBSCRIBERS SSE clients on /v1/logs/default/stream (in four
   worker processes) while eight writers post RATE events/s in total
   (batches of 100); each client must receive every index once, in order
   (counted: ids seen == last - first + 1).
"""
import argparse, http.client, http.server, json, os, random, re, socket, subprocess, sys, tempfile, threading, time

ap = argparse.ArgumentParser()
ap.add_argument("--secs", type=float, default=20)
ap.add_argument("--rules", type=int, default=50)
ap.add_argument("--subscribers", type=int, default=100)
ap.add_argument("--rate", type=int, default=10000)
ap.add_argument("--load-only", action="store_true", help="only the loaded runs: ingest without and with rules, the rules' lag and catch-up")
ap.add_argument("--light-only", action="store_true", help="only the ack -> webhook latency with ~10,000 events/s in the background")
ap.add_argument("--streams-only", action="store_true", help="only the SSE subscribers")
ap.add_argument("--rounds", type=int, default=1, help="with --load-only: pairs of runs (without / with rules), the order alternating, and their medians")
ap.add_argument("--extra", action="append", default=[], help="another `serve` argument for the server with rules (repeatable)")
ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "veritrail"))
args = ap.parse_args()
VT = os.path.abspath(args.bin)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vtbench  # noqa: E402
from vtbench import cleanup, pct, req  # noqa: E402

def start(data, extra):
    return vtbench.start([VT, "serve", "--data", data, "--listen", "127.0.0.1:0", *extra])

def token(addr, admin, role, logs=None):
    b = {"role": role}
    if logs:
        b["logs"] = logs
    s, out = req(addr, "POST", "/v1/tokens", admin, json.dumps(b))
    assert s == 201, out
    return json.loads(out)["token"]

def metric(addr, name):
    s, out = req(addr, "GET", "/metrics", "")
    for l in out.decode().splitlines():
        if l.startswith(name):
            return float(l.rsplit(" ", 1)[1])
    return None

def metrics(addr, names):
    """Several metrics of log "default" from one /metrics request."""
    s, out = req(addr, "GET", "/metrics", "")
    got = {}
    for l in out.decode().splitlines():
        k, _, v = l.rpartition(" ")
        got[k] = v
    return [float(got[n + '{log="default"}']) if n + '{log="default"}' in got else None for n in names]

random.seed(7)
from alert_inputs import event, rules_file  # noqa: E402

BODIES = ["\n".join(json.dumps(event(b * 1000 + k)) for k in range(1000)).encode() for b in range(16)]

arrivals = {}
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers["Content-Length"])
        body = json.loads(self.rfile.read(n))
        arrivals[body["group"]["actor.id"]] = time.time()
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a):
        pass

def ingest(addr, writer, secs, probe=False, pid=None):
    stop = time.time() + secs
    c0, g0 = (vtbench.cpu(pid, True), os.times()) if pid else (None, None)
    counts = [0] * 4
    def client(i):
        h, port = addr.rsplit(":", 1)
        c = http.client.HTTPConnection(h, int(port), timeout=60)
        k = i
        while time.time() < stop:
            c.request("POST", "/v1/logs/default/events", body=BODIES[k % len(BODIES)],
                      headers={"Authorization": f"Bearer {writer}", "Content-Type": "application/x-ndjson"})
            r = c.getresponse(); r.read()
            assert r.status == 201, r.status
            counts[i] += 1000
            k += 4
    acks = {}
    def prober():
        n = 0
        while time.time() < stop - 1:
            ev = json.dumps({"action": "bench.probe", "actor": {"id": f"probe-{n}"}})
            s, _ = req(addr, "POST", "/v1/logs/default/events", writer, ev)
            acks[f"probe-{n}"] = time.time()
            n += 1
            time.sleep(0.05)
    lag = [0.0]
    unsigned = [0.0]
    def sampler():
        while time.time() < stop:
            m = metrics(addr, ["veritrail_rules_lag_entries", "veritrail_appended_entries_total", "veritrail_tree_size"])
            if m[0] is not None:
                lag[0] = max(lag[0], m[0])
            if None not in m:
                unsigned[0] = max(unsigned[0], m[1] - m[2])
            time.sleep(0.25)
    ts = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    if probe:
        ts += [threading.Thread(target=prober), threading.Thread(target=sampler)]
    t0 = time.time()
    for t in ts: t.start()
    for t in ts: t.join()
    wall = time.time() - t0
    rate = sum(counts) / wall
    if probe:
        print(f"  most durable entries no checkpoint covered yet: {unsigned[0]:,.0f}", file=sys.stderr, flush=True)
    runner = None
    if pid:
        g1 = os.times()
        gen = (g1.user + g1.system - g0.user - g0.system) / wall
        c1 = vtbench.cpu(pid, True)
        if "rules-default" in c1:
            # The rules runner's CPU per event evaluated.
            runner = (c1["rules-default"] - c0.get("rules-default", 0)) / wall / rate * 1e6
        print(f"  {rate:,.0f} events/s; cores: {vtbench.cores(c0, c1, wall)}; load generator {gen:.2f}",
              file=sys.stderr, flush=True)
    ingest.runner_us = runner
    return rate, acks, lag[0]

work = tempfile.mkdtemp(prefix="vt-alerts-", dir=os.path.join(os.path.dirname(__file__), ".."))
procs = []

def load_pair(k, with_first):
    """One round of --rounds: a fresh server without rules and one with,
    in the order given; (without, with, worst lag s, runner µs/event)."""
    hs = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hs.serve_forever, daemon=True).start()
    rf = os.path.join(work, "rules.toml")
    rules_file(rf, args.rules, f"http://127.0.0.1:{hs.server_address[1]}/hook")
    got = {}
    lat = []
    for rules in ([True, False] if with_first else [False, True]):
        data = os.path.join(work, f"r{k}-{int(rules)}")
        p, admin, addr = start(data, ["--rules", rf, *args.extra] if rules else []); procs.append(p)
        w = token(addr, admin, "writer", ["default"])
        ingest(addr, w, 3)
        arrivals.clear()
        rate, acks, lag = ingest(addr, w, args.secs, probe=rules, pid=p.pid)
        got[rules] = (rate, lag / rate, ingest.runner_us)
        if rules:
            waited = time.time()
            while len([a for a in acks if a in arrivals]) < len(acks) and time.time() - waited < 5:
                time.sleep(0.1)
            lat = [(arrivals[a] - t) * 1000 for a, t in acks.items() if a in arrivals]
            load_pair.missing = len(acks) - len(lat)
        p.terminate(); p.wait()
        # A run writes a few GB: rounds would fill the disk.
        cleanup([], data)
    hs.shutdown()
    load_pair.lat = lat
    return got[False][0], got[True][0], got[True][1], got[True][2]

def subscriber(addr, r, want, ready, out, i):
    """One SSE client (in a worker process): counts the ids it receives
    and the last one; `out` gets (i, seen, last, cut)."""
    h, port = addr.rsplit(":", 1)
    sk = socket.create_connection((h, int(port)))
    sk.sendall(f"GET /v1/logs/default/stream?from=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {r}\r\n\r\n".encode())
    ready.put(i)
    buf = b""; seen = 0; last = -1; cut = False
    sk.settimeout(30)
    while last < want - 1:
        try:
            d = sk.recv(1 << 20)
        except socket.timeout:
            break
        if not d:
            break
        buf += d
        cut |= b"event: cut" in buf
        seen += buf.count(b"\nid: ") + (1 if buf.startswith(b"id: ") else 0)
        j = buf.rfind(b"\nid: ")
        if j >= 0:
            e = buf.find(b"\n", j + 1)
            if e > 0:
                last = int(buf[j + 5:e])
                buf = buf[e:]
            else:
                buf = buf[j:]
                seen -= 1
        else:
            buf = buf[-16:]
    sk.close()
    out.put((i, seen, last, cut))

def subscribers(addr, r, want, ids, ready, out):
    """A worker process holding the subscribers `ids`, one thread each."""
    ts = [threading.Thread(target=subscriber, args=(addr, r, want, ready, out, i)) for i in ids]
    for t in ts: t.start()
    for t in ts: t.join()

def stream_test():
    """SUBSCRIBERS SSE clients (spread over worker processes, so that
    Python's lock does not throttle them or the writer) while this process
    posts RATE events/s in batches of 100 (eight writers); the table row."""
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    p, admin, addr = start(os.path.join(work, "c"), []); procs.append(p)
    w = token(addr, admin, "writer", ["default"]); r = token(addr, admin, "reader", ["default"])
    per_batch = 100
    n_batches = int(args.rate * args.secs / per_batch)
    want = n_batches * per_batch
    ready, out = ctx.Queue(), ctx.Queue()
    workers = min(args.subscribers, 4)
    ws = [ctx.Process(target=subscribers, args=(addr, r, want, list(range(k, args.subscribers, workers)), ready, out)) for k in range(workers)]
    for x in ws: x.start()
    for _ in range(args.subscribers):
        ready.get(timeout=60)
    time.sleep(0.5)
    bodies = ["\n".join(json.dumps({"action": "stream.test", "actor": f"a{b}-{k}"}) for k in range(per_batch)) for b in range(n_batches)]
    # Eight writers, each posting every eighth batch on its own schedule:
    # one alone waits for each batch's fsync before the next, and a disk
    # flush here takes longer than a batch's share of the second.
    h, port = addr.rsplit(":", 1)
    def writer(k):
        c = http.client.HTTPConnection(h, int(port), timeout=60)
        for b in range(k, n_batches, 8):
            delay = t0 + b * per_batch / args.rate - time.time()
            if delay > 0:
                time.sleep(delay)
            c.request("POST", "/v1/logs/default/events", body=bodies[b],
                      headers={"Authorization": f"Bearer {w}", "Content-Type": "application/x-ndjson"})
            resp = c.getresponse(); text = resp.read()
            assert resp.status == 201, text
    t0 = time.time()
    wt = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for x in wt: x.start()
    for x in wt: x.join()
    offered = want / (time.time() - t0)
    results = [out.get(timeout=120) for _ in range(args.subscribers)]
    for x in ws: x.join()
    complete = sum(1 for (_, seen, last, _) in results if seen == want and last == want - 1)
    cuts = sum(1 for x in results if x[3])
    p.terminate(); p.wait()
    return f"| {args.subscribers} SSE subscribers, {offered:,.0f} events/s offered for {args.secs:.0f} s | {complete} of {args.subscribers} received all {want:,} in order ({cuts} cut off) | all |"

try:
    if args.streams_only:
        print(stream_test())
        sys.exit(0)
    if args.load_only and args.rounds > 1:
        rows = []
        for k in range(args.rounds):
            base, withr, lag, us = load_pair(k, k % 2 == 1)
            rows.append((1 - withr / base, lag, us))
            lat = load_pair.lat
            rows[-1] += (pct(lat, 50), pct(lat, 99))
            print(f"| round {k + 1} ({'with rules first' if k % 2 else 'without first'}) | {base:,.0f} / {withr:,.0f} events/s ({(1 - withr / base) * 100:.1f} % less); worst lag {lag:.2f} s; runner {us:.2f} µs/event; ack → webhook p50 {pct(lat, 50):.0f} / p99 {pct(lat, 99):.0f} ms ({len(lat)} probes, {load_pair.missing} not delivered) |", flush=True)
        med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2
        drops = [r[0] * 100 for r in rows]; lags = [r[1] for r in rows]; uss = [r[2] for r in rows]
        p50s = [r[3] for r in rows]; p99s = [r[4] for r in rows]
        print(f"| {args.rounds} rounds, median (range) | {med(drops):.1f} % less ({min(drops):.1f} to {max(drops):.1f}); worst lag {med(lags):.2f} s ({min(lags):.2f} to {max(lags):.2f}); runner {med(uss):.2f} µs/event; ack → webhook under load p50 {med(p50s):.0f} ms ({min(p50s):.0f} to {max(p50s):.0f}), p99 {med(p99s):.0f} ms ({min(p99s):.0f} to {max(p99s):.0f}) |")
        sys.exit(0)
    # 1. Without rules.
    if not args.light_only:
        p, admin, addr = start(os.path.join(work, "a"), []); procs.append(p)
        w = token(addr, admin, "writer", ["default"])
        ingest(addr, w, 3)  # warm up
        base, _, _ = ingest(addr, w, args.secs, pid=p.pid)
        p.terminate(); p.wait()
    # 2. With rules and the webhook.
    hs = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hs.serve_forever, daemon=True).start()
    rf = os.path.join(work, "rules.toml")
    rules_file(rf, args.rules, f"http://127.0.0.1:{hs.server_address[1]}/hook")
    p, admin, addr = start(os.path.join(work, "b"), ["--rules", rf, *args.extra]); procs.append(p)
    w = token(addr, admin, "writer", ["default"])
    if args.light_only:
        withr, acks, lag = 0, {}, 0
    else:
        ingest(addr, w, 3)
        withr, acks, lag = ingest(addr, w, args.secs, probe=True, pid=p.pid)
    # Let the rules catch up, then time probes alone, with 10,000 events/s
    # in the background.
    t_catch = time.time()
    while (metric(addr, 'veritrail_rules_lag_entries{log="default"}') or 0) > 0 and time.time() - t_catch < 300:
        time.sleep(0.5)
    catch_up = time.time() - t_catch
    if args.load_only:
        p.terminate(); p.wait()
        print(f"| ingest without / with {args.rules} rules | {base:,.0f} / {withr:,.0f} events/s ({(1 - withr / base) * 100:.1f} % less) |")
        print(f"| rules' worst lag, catch-up | {lag:,.0f} entries = {lag / withr:.2f} s of ingest; {catch_up:.1f} s |")
        sys.exit(0)
    # The query index (nice 10) works through the same backlog for longer:
    # the light-load probes wait for it too, so they time a steady state.
    t_index = time.time()
    while (metric(addr, 'veritrail_index_lag_entries{log="default"}') or 0) > 0 and time.time() - t_index < 600:
        time.sleep(0.5)
    index_catch_up = time.time() - t_catch
    time.sleep(2)
    lat = [(arrivals[k] - t) * 1000 for k, t in acks.items() if k in arrivals]
    missing = len([k for k in acks if k not in arrivals])
    arrivals.clear()
    stop_bg = [False]
    def background():
        b = 0
        while not stop_bg[0]:
            body = BODIES[b % len(BODIES)]
            req(addr, "POST", "/v1/logs/default/events", w, body[:body.find(b"\n", 20000)], "application/x-ndjson")
            b += 1
            time.sleep(0.01)
    bg = threading.Thread(target=background); bg.start()
    light = {}
    for n in range(200):
        ev = json.dumps({"action": "bench.probe", "actor": {"id": f"light-{n}"}})
        req(addr, "POST", "/v1/logs/default/events", w, ev)
        light[f"light-{n}"] = time.time()
        # At random moments (50 ms apart on average): probes at a fixed
        # period lock onto the checkpoint cadence and measure one phase of
        # it, not the latency of an event that comes when it comes.
        time.sleep(random.uniform(0.02, 0.08))
    stop_bg[0] = True; bg.join()
    time.sleep(2)
    lat_light = [(arrivals[k] - t) * 1000 for k, t in light.items() if k in arrivals]
    p.terminate(); p.wait()
    if args.light_only:
        print(f"| ack → webhook, {len(lat_light)} probes, light load | p50 {pct(lat_light, 50):.0f} ms, p99 {pct(lat_light, 99):.0f} ms, max {max(lat_light):.0f} ms |")
        sys.exit(0)
    # 3. Streams.
    streams = stream_test()
    print("| measure | result | target |")
    print("| --- | ---: | --- |")
    print(f"| HTTP NDJSON ingest, 4 clients × 1,000-event batches, no rules | {base:,.0f} events/s | — |")
    print(f"| the same with {args.rules} rules active | {withr:,.0f} events/s ({(1 - withr / base) * 100:.1f} % less) | ≤ 15 % less |")
    print(f"| rules' worst lag behind ingest | {lag:,.0f} entries = {lag / withr:.2f} s of ingest | ≤ 1 s |")
    print(f"| time for the rules to catch up after that load | {catch_up:.1f} s | — |")
    print(f"| time for the query index to catch up after that load (the light-load probes start after it) | {index_catch_up:.1f} s | — |")
    if lat:
        print(f"| ack → webhook, {len(lat)} probes during that load | p50 {pct(lat, 50):.0f} ms, p99 {pct(lat, 99):.0f} ms, max {max(lat):.0f} ms ({missing} not delivered before the server stopped) | p50 ≤ 50 ms, p99 ≤ 250 ms |")
    if lat_light:
        print(f"| ack → webhook, {len(lat_light)} probes with ~100 events/10 ms in the background | p50 {pct(lat_light, 50):.0f} ms, p99 {pct(lat_light, 99):.0f} ms, max {max(lat_light):.0f} ms | p50 ≤ 50 ms, p99 ≤ 250 ms |")
    print(streams)
finally:
    cleanup(procs, work)
