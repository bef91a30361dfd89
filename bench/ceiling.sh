#!/usr/bin/env bash
# How fast could any build of veritrail go on this machine? Measures three ceilings that no
# code change inside veritrail can raise, and sets issue 6's ratio targets beside them:
#
#   bench/ceiling.sh [RESULTS.json] [DIR]
#
#   CPU   target/release/work_floor: the per-event work no design skips (WAL record with its
#         CRC32C, the RFC 9162 leaf hash and one interior node hash per event), on one core
#         and on all of them, with no parsing, locking or I/O.
#   disk  bench/fsync_pipeline.py on DIR's file system (default: the repository's): appends
#         of 2.5 MB (a batched commit group's size) each followed by fdatasync, 1, 2 and 4 in
#         flight; the best is divided by the bytes an event takes on disk (340).
#   HTTP  target/release/http_floor (the server stack of `veritrail serve` doing no work)
#         under `wrk -t2 -c64` with bench/wrk/one.lua, as bench/run.sh drives veritrail.
#
# The baselines' rates come from RESULTS.json (default: the newest full run in
# bench/results): per run the best of each baseline's client counts, then the median of the
# runs. Needs cargo, python3, wrk (Debian `wrk`).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
results=${1:-$(ls "$here"/bench/results/*.json | grep -v -- '-quick' | sort -V | tail -1)}
[ -f "$results" ] || { echo "bench/ceiling.sh: no results file $results" >&2; exit 2; }
grep -q '"comparison": "single8"' "$results" && grep -q '"comparison": "batch"' "$results" || {
  echo "bench/ceiling.sh: $results is not a bench/run.sh results file (no batch or single8 rows)" >&2
  exit 2
}
dir=${2:-$here}
say() { printf '==> %s\n' "$*" >&2; }

say "building work_floor and http_floor"
(cd "$here" && cargo build --release -q -p veritrail-bench --bin work_floor --bin http_floor)
bin="$here/target/release"

say "CPU: the per-event work on one core and on all"
cpu=$("$bin/work_floor" --events 2000000 2>/dev/null)
echo "$cpu"
cpu_rate=$(echo "$cpu" | sed -n 's/^all .* cores: \([0-9.]*\) M events\/s.*/\1/p')

say "disk: 2.5 MB appends, each made durable by fdatasync, on $dir"
disk=$(python3 "$here/bench/fsync_pipeline.py" "$dir/.ceiling-fsync.bin" 5 2621440)
echo "$disk"
disk_mbs=$(echo "$disk" | sed -n 's/.* \([0-9.]*\) MB\/s.*/\1/p' | sort -g | tail -1)

say "HTTP: the server stack alone under wrk -t2 -c64 for 10 s"
port=$((20000 + RANDOM % 20000))
"$bin/http_floor" --listen "127.0.0.1:$port" >/dev/null 2>&1 &
floor=$!
trap 'kill $floor 2>/dev/null || true' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
sed "s/TOKEN/none/" "$here/bench/wrk/one.lua" >"$dir/.ceiling-one.lua"
http=$(wrk -t2 -c64 -d10s -s "$dir/.ceiling-one.lua" "http://127.0.0.1:$port/v1/logs/default/events")
rm -f "$dir/.ceiling-one.lua"
http_rate=$(echo "$http" | awk '/Requests\/sec/ {print $2}')
echo "HTTP floor: $http_rate requests/s"

python3 - "$results" "$cpu_rate" "$disk_mbs" "$http_rate" <<'EOF'
import json, statistics, sys
path, cpu, disk_mbs, http = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rows = [json.loads(l) for l in open(path) if l.strip()]
def best(comparisons, system):
    """Median over the runs of the system's best rate among `comparisons` (its client counts)."""
    per_run = {}
    for r in rows:
        if r.get("comparison") in comparisons and r.get("system") == system:
            per_run[r["run"]] = max(per_run.get(r["run"], 0), r["events_per_s"])
    return statistics.median(per_run.values()) if per_run else None
pg, lite = best(("batch", "batch4"), "postgresql"), best(("batch", "batch4"), "sqlite")
pg8 = best(("single8", "single64"), "postgresql")
if None in (pg, lite, pg8):
    sys.exit(f"{path}: not a bench/run.sh results file (no batch or single8 baseline rows)")
disk = disk_mbs * 1e6 / 340
print(f"\nbaselines from {path.split('/')[-1]} (medians of each run's best client count): "
      f"PostgreSQL batched {pg:,.0f}/s, SQLite batched {lite:,.0f}/s, "
      f"PostgreSQL single-event {pg8:,.0f}/s")
print(f"ceilings here: CPU {cpu:.2f} M events/s (the per-event work alone, all cores); "
      f"disk {disk / 1e6:.2f} M events/s ({disk_mbs:.0f} MB/s durable at 340 B per event); "
      f"HTTP {http:,.0f} requests/s (no work per request)\n")
print("| target | needs | the lower ceiling here | reachable? |")
print("| --- | --- | --- | --- |")
for name, need, ceiling in [
    ("batched ≥ 100× PostgreSQL", 100 * pg, min(cpu * 1e6, disk)),
    ("batched ≥ 8× SQLite", 8 * lite, min(cpu * 1e6, disk)),
    ("single-event over HTTP ≥ 20× PostgreSQL's best", 20 * pg8, http),
]:
    print(f"| {name} | {need:,.0f}/s | {ceiling:,.0f}/s | {'no' if need > ceiling else f'{need / ceiling:.0%} of the ceiling'} |")
EOF
