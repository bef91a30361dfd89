#!/usr/bin/env bash
# Alternating A/B of `veritrail bench append` between two builds:
#   bench/ab_append.sh OLD_BIN NEW_BIN EVENTS BATCH WRITERS ROUNDS [more bench append args]
# e.g. bench/ab_append.sh /tmp/vt-before target/release/veritrail 2000000 1000 16 5 --threads
# Prints every run's events/s per build and the median. Run on a quiet machine.
set -euo pipefail
[ $# -ge 6 ] || { sed -n 2,5p "$0" >&2; exit 2; }
old=$1 new=$2 events=$3 batch=$4 writers=$5 rounds=$6
shift 6
dir=$(mktemp -d)
trap 'chattr -R -a -i "$dir" 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq "$rounds"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    rate=$("$bin" bench append --dir "$dir" --events "$events" --batch "$batch" --writers "$writers" "$@" 2>/dev/null |
      sed -n 's/^events\/s: //p')
    echo "$which $rate"
  done
done | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    k, v = line.split()
    runs.setdefault(k, []).append(float(v))
for k in ("old", "new"):
    v = sorted(runs.get(k, []))
    print(f"{k}: median {statistics.median(v):,.0f} events/s; runs " + ", ".join(f"{x:,.0f}" for x in v))'
