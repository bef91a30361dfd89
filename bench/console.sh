#!/usr/bin/env bash
# The console's performance targets (issue 24, BENCHMARKS.md "Console"):
# over a log of N events (default 10,000,000) of a month's kind — logins,
# failed logins, sudo, account and file changes from 2,000 actors on 200
# hosts — the timeline's first page (server time with curl, and browser time
# in chromium through playwright-core, as the Events page measures it), the
# same filtered, one event's proof checked in the browser by both verifiers,
# and a month's period report.
#
# Usage: bench/console.sh [N]      Prints a Markdown table; needs about 1 KB
# of disk per event (log and query index) and `npm ci --prefix
# crates/cli/tests/console` (scripts/test.sh does it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-10000000}
vt="$here/target/release/veritrail"
cargo build -q --release -p veritrail --manifest-path "$here/Cargo.toml"
work=$(mktemp -d /tmp/veritrail-console.XXXXXX)
port=$((27000 + RANDOM % 1000))
base="http://127.0.0.1:$port"
cleanup() {
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  chattr -R -a -i "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N; }
secs() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$2"; }
msecs() { python3 -c "import sys; print(f'{(float(sys.argv[2]) - float(sys.argv[1])) * 1000:.0f}')" "$1" "$2"; }

"$vt" init --data "$work/d" >/dev/null 2>&1
# The events, appended in chunks of 1,000,000 (each chunk validated whole,
# then appended durably).
t0=$(now)
python3 - "$n" <<'PY' | split -l 1000000 --filter="'$vt' append --data '$work/d' > /dev/null 2>&1" -
import json, random, sys, time
n = int(sys.argv[1]); r = random.Random(7)
month = 1_764_547_200  # 2025-12-01T00:00:00Z
out = sys.stdout
for i in range(n):
    x = r.random()
    a, fail = ("auth.login", False) if x < .55 else ("auth.login", True) if x < .70 else \
        ("privilege.sudo", False) if x < .80 else ("api.call", False) if x < .92 else \
        ("account.modify", False) if x < .95 else ("file.modify", False)
    t = month + (i * 30 * 86400) // n
    ev = {"action": a, "actor": {"id": f"user{r.randrange(2000)}", "ip": f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(256)}"},
          "outcome": "failure" if fail else "success", "source": {"host": f"web-{r.randrange(200)}", "app": "sshd"},
          "target": {"id": f"/srv/app/{r.randrange(5000)}"}, "message": f"event {i}",
          "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))}
    out.write(json.dumps(ev, separators=(",", ":")) + "\n")
PY
t1=$(now)
"$vt" serve --data "$work/d" --listen "127.0.0.1:$port" >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
for _ in $(seq 100); do grep -q '^vt_' "$work/serve.err" 2>/dev/null && grep -q " on http://" "$work/serve.err" && break; sleep 0.2; done
admin=$(grep -m1 '^vt_' "$work/serve.err")
auditor=$(curl -s -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"role":"auditor","name":"bench"}' "$base/v1/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
# The query index follows the log; wait until it covers every event.
while :; do
  through=$(curl -s -H "Authorization: Bearer $auditor" "$base/v1/logs/default/events?limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["indexed_through"])')
  [ "$through" -ge "$n" ] && break
  sleep 2
done
t2=$(now)
# Server time: the median of 9 requests of each first page, once it is
# checked to be answered 200 with a full page (50 events, or all there are).
med() {
  code=$(curl -s -o "$work/page.json" -w '%{http_code}' -H "Authorization: Bearer $auditor" "$base$1")
  python3 - "$code" "$work/page.json" "$1" <<'CHECK' >&2 || exit 1
import json, sys
code, path, q = sys.argv[1:]
body = open(path).read()
if code != "200":
    sys.exit(f"{q}: HTTP {code}: {body[:300]}")
page = json.loads(body)
n = len(page["events"])
if n != 50 and page["next_cursor"] is not None:
    sys.exit(f"{q}: {n} events and more to come: not a full page of 50")
if n == 0:
    sys.exit(f"{q}: no events")
CHECK
  for _ in $(seq 9); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $auditor" "$base$1"
  done | sort -n | sed -n 5p | python3 -c 'import sys; print(f"{float(sys.stdin.read())*1000:.0f}")'
}
page=$(med "/v1/logs/default/events?limit=50") || exit 1
page_actor=$(med "/v1/logs/default/events?limit=50&actor=user1234") || exit 1
page_fail=$(med "/v1/logs/default/events?limit=50&action=auth.*&outcome=failure") || exit 1
page_text=$(med "/v1/logs/default/events?limit=50&q=event") || exit 1
# Browser time: the Events page and one event's proof, in chromium.
browser=$(BASE="$base" AUDITOR="$auditor" CHROMIUM=${CHROMIUM:-/usr/bin/chromium} \
  NODE_MODULES="$here/crates/cli/tests/console/node_modules" node "$here/bench/console_page.mjs")
# A month's report.
t3=$(now)
code=$(curl -s -o "$work/report.json" -w '%{http_code}' --max-time 600 -H "Authorization: Bearer $auditor" \
  "$base/v1/logs/default/report?from=2025-11-01T00:00:00Z&to=2030-01-01T00:00:00Z")
t4=$(now)
[ "$code" = 200 ] || { echo "report: HTTP $code: $(head -c 300 "$work/report.json")" >&2; exit 1; }
total=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print([s for s in r["sections"] if s["id"]=="events"][0]["total"])' "$work/report.json" 2>/dev/null || echo "?")
echo "| measurement ($n events) | result |"
echo "| --- | --- |"
echo "| appending them (veritrail append, 1,000,000 per call) | $(secs "$t0" "$t1") s |"
echo "| the query index catching up after the server starts | $(secs "$t1" "$t2") s |"
echo "| first page of the timeline, server (median of 9) | $page ms |"
echo "| first page for one actor / failed logins / free text, server | $page_actor / $page_fail / $page_text ms |"
echo "$browser"
echo "| a month's report (all $n events; sections total $total) | $(msecs "$t3" "$t4") ms |"
du -sh "$work/d" | awk '{print "| data directory with the query index | " $1 " |"}'
