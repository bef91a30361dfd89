#!/usr/bin/env bash
# Runs every cargo-fuzz target of veritrail-core for a few seconds each, from its seed corpus.
# Usage: scripts/fuzz-smoke.sh [seconds per target, default 10]
set -euo pipefail
secs=${1:-10}
cd "$(dirname "$0")/../crates/core"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
for t in note checkpoint tile_path entry_bundle event bundle json; do
  work=$(mktemp -d)
  cp fuzz/corpus/$t/seed-* "$work"/
  echo "fuzz: $t for ${secs}s"
  log=$(mktemp)
  rc=0
  cargo +nightly fuzz run "$t" "$work" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  grep -E 'stat::number_of_executed_units' "$log" || true
  if [ "$rc" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz: $t failed (exit $rc); crash inputs are in crates/core/fuzz/artifacts/$t/" >&2
    exit 1
  fi
  rm -rf "$work" "$log"
done
echo "fuzz: all targets ran ${secs}s without a crash"
