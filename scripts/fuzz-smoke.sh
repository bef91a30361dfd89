#!/usr/bin/env bash
# Runs every cargo-fuzz target (veritrail-core's, veritrail-collect's and veritrail-rules') for a few seconds
# each, from its seed corpus.
# Usage: scripts/fuzz-smoke.sh [seconds per target, default 10]
set -euo pipefail
secs=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for ct in core:note core:checkpoint core:tile_path core:entry_bundle core:event core:bundle core:json \
  collect:framing collect:syslog collect:auditd collect:journal rules:reader; do
  crate=${ct%%:*} t=${ct#*:}
  cd "$root/crates/$crate"
  work=$(mktemp -d)
  cp fuzz/corpus/$t/seed-* "$work"/
  echo "fuzz: $t for ${secs}s"
  log=$(mktemp)
  rc=0
  cargo +nightly fuzz run "$t" "$work" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E 'stat::number_of_executed_units' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz: $t failed (exit $rc); crash inputs are in crates/$crate/fuzz/artifacts/$t/" >&2
    exit 1
  fi
  rm -rf "$work" "$log"
done
echo "fuzz: all targets ran ${secs}s without a crash"
