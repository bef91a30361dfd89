#!/usr/bin/env bash
# How veritrail's costs grow with log size: durable ingest rate and RSS,
# reopen (recovery) time and RSS after SIGKILL mid-ingest, full verify rate
# and RSS, and disk bytes per entry beyond the entry bytes.
# Usage: bench/scale.sh [DIR] [SIZES...]     e.g. bench/scale.sh /work/bench-data 1000000 10000000 100000000
# Needs about 350 bytes of disk per event of the largest size.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-/tmp/veritrail-scale}; shift || true
sizes=("${@:-1000000 10000000}")
cargo build -q --release -p veritrail --manifest-path "$here/Cargo.toml"
vt="$here/target/release/veritrail"
mkdir -p "$base"
timed() { /usr/bin/time -f "%e %M" -o "$base/time.out" "$@"; read -r secs rss < "$base/time.out"; }
echo "| entries | ingest events/s | ingest max RSS | reopen after SIGKILL | reopen max RSS | verify entries/s | verify max RSS | disk bytes/entry over 300 B entries |"
echo "|---|---|---|---|---|---|---|---|"
for n in ${sizes[@]}; do
  d="$base/scale-$n"
  chattr -R -a -i "$d" 2>/dev/null || true; rm -rf "$d"
  timed "$vt" bench append --data "$d" --events "$n" --batch 1000 --writers 4 --event-bytes 300 > "$base/ingest.out" 2>/dev/null
  ingest=$(awk '/^events\/s/ {print $2}' "$base/ingest.out"); ingest_rss=$rss
  entries=$(awk '/^events:/ {print $2}' "$base/ingest.out")
  bytes=$(du -sb "$d/logs/default" | cut -f1)
  overhead=$(( (bytes - entries * 300) / entries ))
  # Crash mid-ingest: SIGKILL a writer after 2 s, then time the reopen (recovery).
  "$vt" bench crash-writer --data "$d" --writers 16 > /dev/null 2>&1 & pid=$!
  sleep 2; kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  timed "$vt" checkpoint --data "$d" > /dev/null 2>&1; reopen=$secs; reopen_rss=$rss
  timed "$vt" verify --quiet --data "$d" > "$base/verify.out" 2>&1
  vrate=$(grep -o '[0-9]* entries/s' "$base/verify.out" | cut -d' ' -f1); verify_rss=$rss
  echo "| $n | $ingest | $((ingest_rss / 1024)) MiB | ${reopen} s | $((reopen_rss / 1024)) MiB | $vrate | $((verify_rss / 1024)) MiB | $overhead |"
  chattr -R -a -i "$d" 2>/dev/null || true; rm -rf "$d"
done
