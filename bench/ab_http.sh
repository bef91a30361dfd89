#!/usr/bin/env bash
# Alternating A/B of single-event HTTP ingest between two builds: per round and
# build, a fresh `veritrail serve` and `wrk -t2 -c64 -d SECONDS` with
# bench/wrk/one.lua (one 300-byte event per request), as bench/run.sh's
# single64 HTTP comparison does.
#   bench/ab_http.sh OLD_BIN NEW_BIN SECONDS ROUNDS
# Prints every run's requests/s per build and the median. Needs wrk and curl;
# run on a quiet machine.
set -euo pipefail
[ $# -ge 4 ] || { sed -n 2,8p "$0" >&2; exit 2; }
old=$1 new=$2 secs=$3 rounds=$4
here=$(cd "$(dirname "$0")" && pwd)
one() {
  local bin=$1 work pid port admin writer
  work=$(mktemp -d)
  "$bin" serve --data "$work/d" --listen 127.0.0.1:0 2>"$work/serve.err" >/dev/null &
  pid=$!
  for _ in $(seq 200); do grep -q serving "$work/serve.err" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's/.*serving .* on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/serve.err")
  admin=$(grep '^vt_' "$work/serve.err")
  writer=$(curl -s -X POST "http://127.0.0.1:$port/v1/tokens" -H "Authorization: Bearer $admin" \
    -H 'Content-Type: application/json' -d '{"role":"writer","logs":["default"]}' |
    sed 's/.*"token":"\([^"]*\)".*/\1/')
  sed "s/TOKEN/$writer/" "$here/wrk/one.lua" >"$work/one.lua"
  sync
  wrk -t2 -c64 -d"${secs}s" -s "$work/one.lua" "http://127.0.0.1:$port/v1/logs/default/events" |
    awk '/^Requests\/sec/ {print $2}'
  kill "$pid"; wait "$pid" 2>/dev/null || true
  chattr -R -a -i "$work" 2>/dev/null || true
  rm -rf "$work"
}
for _ in $(seq "$rounds"); do
  echo "old $(one "$old")"
  echo "new $(one "$new")"
done | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    k, v = line.split()
    runs.setdefault(k, []).append(float(v))
for k in ("old", "new"):
    v = sorted(runs.get(k, []))
    print(f"{k}: median {statistics.median(v):,.0f} requests/s; runs " + ", ".join(f"{x:,.0f}" for x in v))'
