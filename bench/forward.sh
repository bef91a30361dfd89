#!/usr/bin/env bash
# The forwarder's throughput (issue 20): `veritrail forward --once
# --from-start` ships an existing auth.log of SIZE_MIB (default 1024) to a
# local `veritrail serve`, every line through the syslog parser and the
# recognizers, every batch spooled (fsync) and acknowledged after the
# server's fdatasync, the state written after each acknowledgement. Prints
# MB/s and lines/s over the whole run, the forwarder's own CPU time, and
# checks that the log holds every line.
#
#   bench/forward.sh [SIZE_MIB] [ROUNDS]     (defaults 1024, 3)
#   VT=/path/to/veritrail bench/forward.sh   (another build, e.g. for an A/B)
set -euo pipefail
size=${1:-1024} rounds=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${VT:-}" ]; then
  (cd "$here" && cargo build -q --release -p veritrail)
fi
vt="${VT:-$here/target/release/veritrail}"
work=$(mktemp -d "$here/.bench-forward.XXXXXX")
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; chattr -R -a -i "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

python3 "$here/bench/authlog.py" "$work/auth.log" "$size"
lines=$(wc -l <"$work/auth.log")
bytes=$(stat -c %s "$work/auth.log")

for r in $(seq "$rounds"); do
  d="$work/data-$r"
  "$vt" serve --data "$d" --listen 127.0.0.1:0 2>"$d.err" >/dev/null &
  pid=$!
  for _ in $(seq 100); do grep -q serving "$d.err" 2>/dev/null && break; sleep 0.1; done
  http=$(sed -n 's/.*serving .* on http:\/\/\(.*\)$/\1/p' "$d.err")
  admin=$(grep '^vt_' "$d.err" | head -1)
  writer=$(curl -s -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
    -d '{"role":"writer","logs":["default"]}' "http://$http/v1/tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$work/cpu-$r" \
    "$vt" forward --server "http://$http" --token "$writer" --once --from-start \
    --state "$work/state-$r" --spool "$work/spool-$r" "$work/auth.log" 2>"$work/fwd-$r.err"
  t1=$(date +%s.%N)
  read -r cu cs <"$work/cpu-$r"
  stored=$(curl -s "http://$http/metrics" | awk '$1 ~ /^veritrail_appended_entries_total\{log="default"/ {s+=$2} END {print s+0}')
  python3 -c "
secs = $t1 - $t0
print(f'round $r: {$bytes / secs / 1e6:,.1f} MB/s, {$lines / secs:,.0f} lines/s ({$lines:,} lines, {$bytes / 2**20:,.0f} MiB in {secs:.1f} s); entries appended: {$stored:,}; the forwarder used {$cu:.1f} s user + {$cs:.1f} s system CPU ({($cu + $cs) * 1e6 / $lines:.2f} µs/line)')"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  chattr -R -a -i "$d" 2>/dev/null || true; rm -rf "$d"
done
