#!/usr/bin/env bash
# Side-by-side benchmark: veritrail against what users would build instead —
# PostgreSQL 15 with a hash-chain trigger and SQLite with an application-side
# hash chain — on this machine, in one run, all durable before acknowledging.
#
# Usage: bench/run.sh [--quick] [--runs N]
#   --quick   small sizes, finishes in a few minutes (CI runs it as a smoke test)
#   default   the sizes BENCHMARKS.md reports (tens of minutes)
#
# Installs what it needs (Debian postgresql, sqlite3, wrk), starts PostgreSQL
# on 127.0.0.1 in a temporary directory, runs every comparison RUNS times
# alternating the systems, and writes bench/results/<date>[-quick].md, .json
# (one object per measurement) and -plot.svg (into $BENCH_RESULTS_DIR if set).
# Run as root, it drops the page cache before each cold verification run (and
# measures warm runs right after); otherwise it measures warm runs only.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
invocation="bench/run.sh${*:+ $*}"
quick=0; runs=5
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --runs) runs=$2; shift ;;
    *) echo "usage: bench/run.sh [--quick] [--runs N]" >&2; exit 2 ;;
  esac
  shift
done
if [ $quick = 1 ]; then
  batch_n=100000; single_n=10000; verify_n=200000; http_secs=3
else
  batch_n=1000000; single_n=50000; verify_n=10000000; http_secs=10
fi
vt_batch_n=$((batch_n * 3))

say() { printf '==> %s\n' "$*" >&2; }

say "installing postgresql, sqlite3, wrk (if missing)"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
need=()
[ -n "$pgbin" ] || need+=(postgresql)
command -v sqlite3 >/dev/null || need+=(sqlite3)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
# Debian's package starts a cluster of its own; this script uses its own.

say "building (release)"
cargo build -q --release -p veritrail -p veritrail-bench --bin veritrail --bin baseline --manifest-path "$here/Cargo.toml"
vt="$here/target/release/veritrail"
bl="$here/target/release/baseline"

work=$(mktemp -d /tmp/veritrail-bench.XXXXXX)
chmod 755 "$work"
# Below the kernel's ephemeral range (32768-60999 here), so no client socket
# of this run can hold it; veritrail takes a port the kernel picks.
pg_port=$((24000 + RANDOM % 1000))
server_pid=""
# shellcheck source=bench/pg.sh
. "$here/bench/pg.sh"
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  pg_stop
  chattr -R -a -i "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say "starting PostgreSQL on 127.0.0.1:$pg_port in $work/pg"
pg_start "$work" "$pg_port"
# The verification data set lives in a database of its own.
"$pgbin/psql" "$pg" -q -c "CREATE DATABASE verify" >/dev/null
pgv="host=127.0.0.1 port=$pg_port user=postgres dbname=verify"

results="$work/results.jsonl"
: > "$results"
# record COMPARISON SYSTEM RUN JSON-FROM-A-TOOL
record() {
  # A measuring command that failed prints nothing: stop with its name, not
  # with a JSON parse error.
  if [ -z "$4" ]; then
    echo "bench/run.sh: $1 of $2 (run $3) produced no measurement; its error is above" >&2
    exit 1
  fi
  python3 - "$1" "$2" "$3" "$4" >> "$results" <<'PY'
import json, sys
c, s, r, j = sys.argv[1:5]
d = json.loads(j)
d.update({"comparison": c, "system": s, "run": int(r)})
print(json.dumps(d))
PY
}
# veritrail's bench output → JSON
vt_bench() {
  "$vt" bench append --dir "$work" "$@" 2>/dev/null | parse_vt_bench
}
parse_vt_bench() {
  python3 -c '
import json, re, sys
t = sys.stdin.read()
rate = float(re.search(r"^events/s: (\S+)", t, re.M).group(1))
ev, secs = re.search(r"^events: (\d+) in (\S+)s", t, re.M).groups()
def ms(k):
    m = re.search(k + r": ([\d.]+)(\S+)", t)
    v, u = float(m.group(1)), m.group(2)
    return v * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}[u]
print(json.dumps({"events": int(ev), "secs": float(secs), "events_per_s": rate, "p50_ms": ms("p50"), "p99_ms": ms("p99")}))'
}
vt_bench_data() {
  local d=$1; shift
  "$vt" bench append --data "$d" "$@" 2>/dev/null | parse_vt_bench
}
# wrk output → JSON
wrk_json() {
  python3 -c '
import json, re, sys
t = sys.stdin.read()
rps = float(re.search(r"Requests/sec:\s+(\S+)", t).group(1))
def ms(p):
    m = re.search(r"^\s+" + p + r"%\s+([\d.]+)(\w+)", t, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 1e-3, "ms": 1.0, "s": 1e3}[u]
print(json.dumps({"events_per_s": rps, "p50_ms": ms("50"), "p99_ms": ms("99")}))'
}

"$vt" serve --data "$work/vt-http" --listen "127.0.0.1:0" 2> "$work/serve.err" > /dev/null &
server_pid=$!
for _ in $(seq 100); do grep -q serving "$work/serve.err" 2>/dev/null && break; sleep 0.1; done
vt_port=$(sed -n 's/.*serving .* on http:\/\/127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/serve.err")
[ -n "$vt_port" ] || { echo "veritrail serve did not start:" >&2; cat "$work/serve.err" >&2; exit 1; }
say "veritrail server for the HTTP comparisons on 127.0.0.1:$vt_port"
admin=$(grep '^vt_' "$work/serve.err")
writer=$(curl -s -X POST "http://127.0.0.1:$vt_port/v1/tokens" -H "Authorization: Bearer $admin" \
  -H 'Content-Type: application/json' -d '{"role":"writer","logs":["default"]}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
sed "s/TOKEN/$writer/" "$here/bench/wrk/one.lua" > "$work/one.lua"

say "loading $verify_n events into each system for the verification runs"
record load veritrail 1 "$(vt_bench_data "$work/vt-verify" --events "$verify_n" --batch 1000 --writers 4)"
vt_bench_data "$work/vt-crash" --events "$verify_n" --batch 1000 --writers 4 >/dev/null
"$bl" pg-setup --url "$pgv"
record load postgresql 1 "$("$bl" pg-ingest --url "$pgv" --events "$verify_n" --clients 1 --batch 1000)"
record load sqlite 1 "$("$bl" sqlite-ingest --path "$work/verify.sqlite" --events "$verify_n" --batch 1000)"
vt_disk=$(du -sb "$work/vt-verify/logs/default" | cut -f1)
record disk veritrail 1 "{\"events\": $verify_n, \"bytes\": $vt_disk, \"bytes_per_event\": $(python3 -c "print($vt_disk/$verify_n)")}"
record disk postgresql 1 "$("$bl" pg-size --url "$pgv")"
sqlite3 "$work/verify.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
sq_disk=$(du -cb "$work"/verify.sqlite* | tail -1 | cut -f1)
record disk sqlite 1 "{\"events\": $verify_n, \"bytes\": $sq_disk, \"bytes_per_event\": $(python3 -c "print($sq_disk/$verify_n)")}"
# Everything loaded reaches the disk before any timed run. PostgreSQL keeps
# the loads' dirty shared buffers (up to 2 GB) until its next checkpoint,
# which checkpoint_timeout would otherwise start in the middle of some run.
"$pgbin/psql" "$pg" -q -c "CHECKPOINT" >/dev/null
sync

# One full verification of the verification data set by `system`, as JSON.
verify_once() {
  case "$1" in
    veritrail)
      local t0 t1 out n
      t0=$(date +%s.%N)
      out=$("$vt" verify --quiet --data "$work/vt-verify")
      t1=$(date +%s.%N)
      n=$(echo "$out" | sed 's/.*: \([0-9]*\) entries,.*/\1/')
      python3 -c "s=$t1-$t0; print('{\"events\": $n, \"secs\": %f, \"events_per_s\": %f}' % (s, $n/s))" ;;
    postgresql) "$bl" pg-verify --url "$pgv" ;;
    sqlite) "$bl" sqlite-verify --path "$work/verify.sqlite" ;;
  esac
}
# Cold-cache verification needs the right to drop the page cache (root).
drop_caches() { sync && echo 3 > /proc/sys/vm/drop_caches; }
cold_ok=0
if drop_caches 2>/dev/null; then cold_ok=1; else say "cannot drop the page cache (not root?): verification is measured warm only"; fi

# One untimed read of each verification data set first. "Cold" below means
# the page cache of this machine dropped; a VM's host may cache the disk too,
# and that no guest can drop. Without this read, run 1 found veritrail's data
# set (loaded first, then pushed out of the host's cache by the baselines'
# loads) truly cold: 19.4 s against ~4 s, reading at 50-170 MB/s (session 12,
# reproduced by hand), while the baselines' data, written last, was not — so
# every run now measures the same condition.
for sys_ in veritrail postgresql sqlite; do verify_once "$sys_" >/dev/null; done

for run in $(seq "$runs"); do
  say "run $run of $runs"
  # Full verification of the same number of events (alternating systems),
  # each from a cold page cache (dropped before the run; PostgreSQL also
  # restarted, emptying its shared buffers) and then warm (a second run right
  # after that full read). Without the right to drop caches only the warm run
  # is measured, after an untimed first read.
  for sys_ in veritrail postgresql sqlite; do
    if [ "$cold_ok" = 1 ]; then
      [ "$sys_" = postgresql ] && { pgctl -m fast stop; pgctl -w start; }
      drop_caches
      record verify_cold "$sys_" "$run" "$(verify_once "$sys_")"
    else
      verify_once "$sys_" >/dev/null
    fi
    record verify "$sys_" "$run" "$(verify_once "$sys_")"
  done

  # Recovery after a crash with the verification data in place, each system
  # crashed after a second of ingest: veritrail is killed with SIGKILL
  # mid-ingest and reopened; PostgreSQL is stopped "immediate" (no shutdown
  # checkpoint, crash recovery on start) while one client inserts 1,000-row
  # batches (into the table the batched comparison below resets).
  "$vt" bench crash-writer --data "$work/vt-crash" --writers 16 >/dev/null 2>&1 & cw=$!
  sleep 1; kill -9 "$cw"; wait "$cw" 2>/dev/null || true
  t0=$(date +%s.%N)
  if ! "$vt" checkpoint --data "$work/vt-crash" >/dev/null 2>"$work/recovery.err"; then
    echo "veritrail could not reopen the log after SIGKILL (run $run):" >&2
    cat "$work/recovery.err" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  record recovery veritrail "$run" "{\"secs\": $(python3 -c "print($t1-$t0)")}"
  "$bl" pg-setup --url "$pg"
  "$bl" pg-ingest --url "$pg" --events 100000000 --clients 1 --batch 1000 >/dev/null 2>&1 & pw=$!
  sleep 1; pgctl -m immediate stop; wait "$pw" 2>/dev/null || true
  t0=$(date +%s.%N); pgctl -w start; t1=$(date +%s.%N)
  record recovery postgresql "$run" "{\"secs\": $(python3 -c "print($t1-$t0)")}"

  # Batched durable ingest: 1,000 events per transaction / append call.
  # Every system at two client counts, and bench/report.py pairs each
  # system's better one in each run: veritrail with 64 writer threads
  # (batch) and 16 (batch16), each preparing (hashing) its own batches as a
  # server's request workers do; the baselines with one client (batch) and
  # four (batch4; their writers serialise on the chain head, so four gain
  # little; PostgreSQL's four-client run loads a tenth of the events, as it
  # is slow). Also veritrail with one writer, and with the 4 callback-driven
  # writers of runs before session 5 (their ack callbacks prepare every next
  # batch on the log's one acker thread).
  # veritrail loads three times as many events as the baselines: with 64
  # writers of 1,000-event batches, a run of batch_n (1 M) events is ~16
  # calls per writer, mostly the pipeline filling and draining, and its rate
  # says more about the ramp than the steady state (the baselines' runs are
  # long enough: 8 s to a minute). Every system starts from an empty log.
  # Before every ingest measurement `sync` writes back what earlier steps
  # left dirty in the page cache (the crashed writers above, the previous
  # system's run), so no system pays for another's write-back.
  sync; record batch veritrail "$run" "$(vt_bench --events "$vt_batch_n" --batch 1000 --writers 64 --threads)"
  sync; record batch16 veritrail "$run" "$(vt_bench --events "$vt_batch_n" --batch 1000 --writers 16 --threads)"
  sync; record batch1 veritrail "$run" "$(vt_bench --events "$batch_n" --batch 1000 --writers 1)"
  sync; record batch4cb veritrail "$run" "$(vt_bench --events "$batch_n" --batch 1000 --writers 4)"
  "$bl" pg-setup --url "$pg"
  sync; record batch postgresql "$run" "$("$bl" pg-ingest --url "$pg" --events "$batch_n" --clients 1 --batch 1000)"
  "$bl" pg-setup --url "$pg"
  sync; record batch4 postgresql "$run" "$("$bl" pg-ingest --url "$pg" --events "$((batch_n / 10))" --clients 4 --batch 1000)"
  rm -f "$work"/batch.sqlite*
  sync; record batch sqlite "$run" "$("$bl" sqlite-ingest --path "$work/batch.sqlite" --events "$batch_n" --batch 1000)"
  rm -f "$work"/batch.sqlite*
  sync; record batch4 sqlite "$run" "$("$bl" sqlite-ingest --path "$work/batch.sqlite" --events "$batch_n" --clients 4 --batch 1000)"

  # Single-event durable ingest from 64 concurrent clients.
  sync; record single64 veritrail "$run" "$(vt_bench --events "$single_n" --batch 1 --writers 64)"
  sync; record single64 veritrail-http "$run" "$(wrk -t2 -c64 -d"${http_secs}s" --latency -s "$work/one.lua" "http://127.0.0.1:$vt_port/v1/logs/default/events" | wrk_json)"
  "$bl" pg-setup --url "$pg"
  sync; record single64 postgresql "$run" "$("$bl" pg-ingest --url "$pg" --events "$single_n" --clients 64 --batch 1)"
  "$bl" pg-setup --url "$pg"
  sync; record single8 postgresql "$run" "$("$bl" pg-ingest --url "$pg" --events "$single_n" --clients 8 --batch 1)"
  rm -f "$work"/single.sqlite*
  sync; record single64 sqlite "$run" "$("$bl" sqlite-ingest --path "$work/single.sqlite" --events "$((single_n / 4))" --clients 64 --batch 1)"

  # Append to verifiable proof, one client: veritrail's receipt (?wait=proof)
  # against a committed row of the chain (whose only proof is a chain walk).
  record proof veritrail-http "$run" "$(wrk -t1 -c1 -d"${http_secs}s" --latency -s "$work/one.lua" "http://127.0.0.1:$vt_port/v1/logs/default/events?wait=proof" | wrk_json)"
  "$bl" pg-setup --url "$pg"
  record proof postgresql "$run" "$("$bl" pg-ingest --url "$pg" --events 2000 --clients 1 --batch 1)"
done
kill "$server_pid" 2>/dev/null || true; server_pid=""

date=$(date +%Y-%m-%d)
suffix=$([ $quick = 1 ] && echo "-quick" || echo "")
outdir=${BENCH_RESULTS_DIR:-$here/bench/results}
mkdir -p "$outdir"
out="$outdir/$date$suffix"
cp "$results" "$out.json"
machine="$(nproc) vCPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr)"
python3 "$here/bench/report.py" "$out.json" "$out.md" "$out-plot.svg" \
  --machine "$machine" --command "$invocation" \
  --scale "$here/bench/results/2026-11-26-scale.md"
bash "$here/bench/machine.sh" "$here" > "$out-machine.txt" 2>/dev/null || true
say "wrote $out.md, $out.json, $out-plot.svg and $out-machine.txt"
