#!/usr/bin/env python3
"""The rule engine alone, on one core: bench/alerts.py's rules and event mix
(bench/alert_inputs.py) written as a rules file and stored events
(canonical JSON stamped with `received_at`, 1,000 events per second of log
time), then evaluated by the `engine_rate` example of veritrail-rules.

  bench/engine_rate.py [--events 200000] [--rules 50] [--repeat 10] [--distinct] [--keep DIR]
"""
import argparse, datetime, json, os, random, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from alert_inputs import event, rules_file  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--events", type=int, default=200_000)
ap.add_argument("--rules", type=int, default=50)
ap.add_argument("--runs", type=int, default=1, help="processes")
ap.add_argument("--repeat", type=int, default=10, help="evaluations per process (the best is reported)")
ap.add_argument("--distinct", action="store_true", help="no two rules share a state (see alert_inputs.rules_file)")
ap.add_argument("--keep", help="write the inputs into this directory and keep them")
args = ap.parse_args()

work = args.keep or tempfile.mkdtemp(prefix="vt-engine-")
os.makedirs(work, exist_ok=True)
rules = os.path.join(work, "rules.toml")
events = os.path.join(work, "events.ndjson")
random.seed(7)
rules_file(rules, args.rules, "http://127.0.0.1:9/hook", distinct=args.distinct)
t0 = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.timezone.utc)
with open(events, "w") as f:
    for k in range(args.events):
        e = event(k)
        at = t0 + datetime.timedelta(microseconds=k * 1000)
        e["received_at"] = at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
        f.write(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n")
root = os.path.join(here, "..")
subprocess.run(["cargo", "build", "--release", "-q", "-p", "veritrail-rules", "--example", "engine_rate"], cwd=root, check=True)
for _ in range(args.runs):
    subprocess.run([os.path.join(root, "target", "release", "examples", "engine_rate"), rules, events, str(args.repeat)], check=True)
if not args.keep:
    for p in (rules, events):
        os.remove(p)
    os.rmdir(work)
