#!/usr/bin/env bash
# The forwarder's throughput (issue 20): `veritrail forward --once
# --from-start` ships an existing auth.log of SIZE_MIB (default 1024) to a
# local `veritrail serve`, every line through the syslog parser and the
# recognizers, every batch spooled (fsync) and acknowledged after the
# server's fdatasync, the state written after each acknowledgement. Prints
# MB/s and lines/s over the whole run, the forwarder's own CPU time, and
# checks that the log holds every line.
#
# Beside it, in every round, what users would pick instead: rsyslog
# shipping the same file (imfile → omfwd over TCP → a second rsyslog's
# imtcp → omfile; no fsync, no hashing, lines kept as they are), timed
# from its start to the last growth of the receiver's file, and its lines
# counted.
#
#   bench/forward.sh [SIZE_MIB] [ROUNDS]     (defaults 1024, 3)
#   VT=/path/to/veritrail bench/forward.sh   (another build, e.g. for an A/B)
#   NO_RSYSLOG=1 bench/forward.sh            (veritrail only)
set -euo pipefail
size=${1:-1024} rounds=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${VT:-}" ]; then
  (cd "$here" && cargo build -q --release -p veritrail)
fi
vt="${VT:-$here/target/release/veritrail}"
if [ -z "${NO_RSYSLOG:-}" ] && [ ! -x /usr/sbin/rsyslogd ]; then
  apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsyslog >/dev/null
fi
work=$(mktemp -d "$here/.bench-forward.XXXXXX")
pid= rpids=()
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  for p in "${rpids[@]}"; do kill "$p" 2>/dev/null || true; done
  chattr -R -a -i "$work" 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# rsyslog ships $work/auth.log from one instance to another over TCP.
run_rsyslog() {
  local r=$1 d="$work/rs-$1" port
  mkdir -p "$d/send" "$d/recv"; port=$(free_port)
  cat >"$d/recv/conf" <<CONF
global(workDirectory="$d/recv")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="$port")
action(type="omfile" file="$d/recv/out.log")
CONF
  cat >"$d/send/conf" <<CONF
global(workDirectory="$d/send")
module(load="imfile")
input(type="imfile" File="$work/auth.log" Tag="auth" freshStartTail="off")
action(type="omfwd" target="127.0.0.1" port="$port" protocol="tcp")
CONF
  /usr/sbin/rsyslogd -n -f "$d/recv/conf" -i "$d/recv/pid" >"$d/recv/log" 2>&1 &
  rpids+=("$!")
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  local t0 t1 size last=-1 still=0
  t0=$(date +%s.%N)
  /usr/sbin/rsyslogd -n -f "$d/send/conf" -i "$d/send/pid" >"$d/send/log" 2>&1 &
  rpids+=("$!")
  # Done when the receiver's file has not grown for 2 s.
  while [ "$still" -lt 20 ]; do
    size=$(stat -c %s "$d/recv/out.log" 2>/dev/null || echo 0)
    if [ "$size" != "$last" ]; then last=$size still=0 t1=$(date +%s.%N); else still=$((still + 1)); fi
    sleep 0.1
  done
  for p in "${rpids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rpids=()
  local got; got=$(wc -l <"$d/recv/out.log")
  python3 -c "
secs = $t1 - $t0
print(f'round $r, rsyslog (imfile → omfwd TCP → imtcp → omfile, no fsync): {$bytes / secs / 1e6:,.1f} MB/s, {$got / secs:,.0f} lines/s ({$got:,} of {$lines:,} lines in {secs:.1f} s)')"
  rm -rf "$d"
}

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
  if [ -z "${NO_RSYSLOG:-}" ]; then run_rsyslog "$r"; fi
done
