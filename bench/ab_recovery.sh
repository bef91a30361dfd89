#!/usr/bin/env bash
# Alternating A/B of recovery after SIGKILL between two builds:
#   bench/ab_recovery.sh OLD_BIN NEW_BIN ROUNDS [EVENTS]
# Each round and build: load EVENTS (default 10,000,000) events, 1 s of 16 crash-writers,
# SIGKILL, then time `veritrail checkpoint` (which opens, and so recovers, the log).
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,5p "$0" >&2; exit 2; }
old=$1 new=$2 rounds=$3 events=${4:-10000000}
dir=$(mktemp -d)
trap 'chattr -R -a -i "$dir" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq "$rounds"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    d="$dir/$which"
    "$bin" bench append --data "$d" --events "$events" --batch 1000 --writers 4 >/dev/null 2>&1
    sync; sleep 1
    "$bin" bench crash-writer --data "$d" --writers 16 >/dev/null 2>&1 & cw=$!
    sleep 1; kill -9 "$cw"; wait "$cw" 2>/dev/null || true
    t0=$(date +%s.%N)
    "$bin" checkpoint --data "$d" >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
    t1=$(date +%s.%N)
    python3 -c "print('$which recovery %.3f s' % ($t1 - $t0))"
    chattr -R -a -i "$d" 2>/dev/null || true; rm -rf "$d"
  done
done
