#!/usr/bin/env bash
# Single-event HTTP ingest against a fresh server, with what the server reads from the disk
# and how far its query index lags meanwhile:
#   bench/http_lag.sh BIN [SECONDS] [ROUNDS]
# Per round: `wrk -t2 -c64` for SECONDS (default 10) with bench/wrk/one.lua; the largest
# veritrail_index_lag_entries seen on /metrics (sampled every 0.5 s); the server's read_bytes
# from /proc; the WAL's size. Needs Debian's wrk and curl.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,7p "$0" >&2; exit 2; }
vt=$1 secs=${2:-10} rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
"$vt" serve --data "$work/d" --listen 127.0.0.1:0 2>"$work/serve.err" >/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; chattr -R -a -i "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q serving "$work/serve.err" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*serving .* on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/serve.err")
admin=$(grep '^vt_' "$work/serve.err")
writer=$(curl -s -X POST "http://127.0.0.1:$port/v1/tokens" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d '{"role":"writer","logs":["default"]}' |
  sed 's/.*"token":"\([^"]*\)".*/\1/')
sed "s/TOKEN/$writer/" "$here/wrk/one.lua" >"$work/one.lua"
for r in $(seq "$rounds"); do
  sync
  rb0=$(awk '/^read_bytes/ {print $2}' /proc/$pid/io)
  (while :; do
    curl -s -H "Authorization: Bearer $admin" "http://127.0.0.1:$port/metrics" |
      awk '/^veritrail_index_lag_entries/ {print $2}'
    sleep 0.5
  done) >"$work/lag" &
  sampler=$!
  out=$(wrk -t2 -c64 -d"${secs}s" -s "$work/one.lua" "http://127.0.0.1:$port/v1/logs/default/events" 2>&1)
  kill $sampler; wait $sampler 2>/dev/null || true
  rb1=$(awk '/^read_bytes/ {print $2}' /proc/$pid/io)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  echo "round $r: $rps requests/s, index lag at most $(sort -n "$work/lag" | tail -1) entries," \
    "server read $(((rb1 - rb0) / 1024)) KiB from the disk, WAL $(du -sm "$work/d/logs/default/wal" | cut -f1) MiB"
done
