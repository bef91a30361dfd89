#!/usr/bin/env bash
# Syslog ingest side by side (issue 20): veritrail's TCP listener (octet
# counting) and UDP listener, each message durably stored, against Debian's
# rsyslog receiving the same load over TCP and writing it to a file (omfile,
# rsyslog's default: buffered, not fsync'd). The load is syslog-ng's
# `loggen` (from Debian's syslog-ng-core): 200-byte RFC 5424 messages, 8
# connections, as fast as it can for SECONDS; its CPU is on the same 2 cores.
#
#   bench/syslog.sh [SECONDS] [ROUNDS]     (defaults 20, 3)
#
# TCP and rsyslog: loggen as fast as it goes. UDP: loggen at UDP_RATE
# messages/s in all (default 250000, the TCP target), then as fast as it
# goes (a flood), each with what the kernel dropped.
#
# Rates are messages stored per second, counted by the receiver (veritrail:
# veritrail_syslog_messages_total in /metrics; rsyslog: lines in its file),
# over the run; UDP also prints what the kernel dropped. Alternates the
# systems per round. Needs root for apt (installs rsyslog; unpacks syslog-ng-core).
set -euo pipefail
secs=${1:-20} rounds=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
[ -x /usr/sbin/rsyslogd ] || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsyslog >/dev/null; }
# syslog-ng-core conflicts with rsyslog, so its loggen is unpacked from the
# package (apt-get download) into target/loggen instead of installed.
loggen=$(command -v loggen || true)
if [ -z "$loggen" ]; then
  tools="$here/target/loggen"
  if [ ! -x "$tools/usr/bin/loggen" ]; then
    mkdir -p "$tools"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libglib2.0-0 libssl3 >/dev/null
    (cd "$tools" && apt-get download -qq syslog-ng-core >/dev/null 2>&1 && dpkg-deb -x syslog-ng-core_*.deb .)
  fi
  export LD_LIBRARY_PATH="$tools/usr/lib/syslog-ng${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export SYSLOGNG_PREFIX="$tools/usr"
  loggen="$tools/usr/bin/loggen"
fi
(cd "$here" && cargo build -q --release -p veritrail)
vt="$here/target/release/veritrail"
work=$(mktemp -d "$here/.bench-syslog.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; chattr -R -a -i "$work" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

metric() { curl -s "http://$1/metrics" | awk -v k="$2" '$1 == k {print $2}'; }

run_veritrail() { # transport [rate per connection]
  local t=$1 rate=${2:-100000000} d="$work/vt-$RANDOM" port
  port=$(free_port)
  "$vt" serve --data "$d" --listen 127.0.0.1:0 "--syslog-$t" "127.0.0.1:$port" 2>"$d.err" >/dev/null &
  local pid=$!; pids+=("$pid")
  for _ in $(seq 100); do grep -q serving "$d.err" 2>/dev/null && break; sleep 0.1; done
  local http; http=$(sed -n 's/.*serving .* on http:\/\/\(.*\)$/\1/p' "$d.err")
  local key="veritrail_syslog_messages_total{transport=\"$t\"}"
  local mode=(--inet --stream --syslog-proto)
  [ "$t" = udp ] && mode=(--dgram --syslog-proto)
  local t0; t0=$(date +%s.%N)
  "$loggen" "${mode[@]}" --size 200 --rate "$rate" --active-connections 8 --interval "$secs" 127.0.0.1 "$port" >"$d.loggen" 2>&1 || true
  # Let what was sent be stored.
  local last=-1 now
  for _ in $(seq 100); do now=$(metric "$http" "$key"); [ "$now" = "$last" ] && break; last=$now; sleep 0.3; done
  local t1; t1=$(date +%s.%N)
  local sent; sent=$(sed -n 's/.*count=\([0-9]*\).*/\1/p' "$d.loggen" | tail -1)
  local drops; drops=$(metric "$http" veritrail_syslog_udp_drops_total)
  local offered="as fast as loggen goes"; [ "$rate" != 100000000 ] && offered="offered $((rate * 8))/s"
  python3 -c "print(f'veritrail $t ($offered): {$now/($t1-$t0):,.0f} messages/s stored ({$now:,} of ${sent:-0} sent; kernel drops ${drops:-0})')"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_rsyslog() {
  local d="$work/rs-$RANDOM" port
  mkdir -p "$d"; port=$(free_port)
  cat >"$d/conf" <<CONF
global(workDirectory="$d")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="$port")
action(type="omfile" file="$d/out.log")
CONF
  /usr/sbin/rsyslogd -n -f "$d/conf" -i "$d/pid" >/dev/null 2>&1 &
  local pid=$!; pids+=("$pid"); sleep 1
  local t0; t0=$(date +%s.%N)
  "$loggen" --inet --stream --syslog-proto --size 200 --rate 100000000 --active-connections 8 --interval "$secs" 127.0.0.1 "$port" >"$d/loggen" 2>&1 || true
  local last=-1 now
  for _ in $(seq 100); do now=$(wc -l <"$d/out.log"); [ "$now" = "$last" ] && break; last=$now; sleep 0.3; done
  local t1; t1=$(date +%s.%N)
  python3 -c "print(f'rsyslog tcp (omfile, no fsync): {$now/($t1-$t0):,.0f} messages/s written')"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

for r in $(seq "$rounds"); do
  echo "== round $r"
  run_veritrail tcp
  run_rsyslog
  run_veritrail udp $(( ${UDP_RATE:-250000} / 8 ))
  run_veritrail udp
done
