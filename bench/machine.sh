#!/usr/bin/env bash
# What this machine is, for BENCHMARKS.md: CPU, memory, kernel, the file
# system and device under the data directory, and how long one small durable
# write takes here (4 KiB appended, then fdatasync; 300 times, after 20 to
# warm up). Run on a quiet machine.
#   bench/machine.sh [DIR]   (DIR: where to measure; default: this checkout)
# Prints `key: value` lines; bench/report.py reads them.
set -euo pipefail
dir=${1:-$(cd "$(dirname "$0")/.." && pwd)}
src=$(df --output=source "$dir" | tail -1)
dev=$(basename "$src")
parent=$(lsblk -no pkname "$src" 2>/dev/null | head -1 || true)
model=$(cat "/sys/block/${parent:-$dev}/device/model" 2>/dev/null | xargs || true)
echo "cpu: $(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "memory: $(free -g | awk '/Mem:/ {print $2}') GiB"
echo "kernel: $(uname -sr)"
echo "filesystem: $(df --output=fstype "$dir" | tail -1 | xargs) on ${src}${model:+ ($model)}"
python3 - "$dir" <<'PY'
import os, statistics, sys, tempfile, time
fd, path = tempfile.mkstemp(dir=sys.argv[1], prefix=".fsync-probe-")
try:
    block = b"x" * 4096
    lat = []
    for i in range(320):
        os.write(fd, block)
        t = time.perf_counter()
        os.fdatasync(fd)
        if i >= 20:
            lat.append((time.perf_counter() - t) * 1e6)
    lat.sort()
    print(f"fdatasync of a 4 KiB append: p50 {statistics.median(lat):.0f} µs, p99 {lat[int(len(lat) * 0.99)]:.0f} µs ({len(lat)} syncs)")
finally:
    os.close(fd)
    os.unlink(path)
PY
