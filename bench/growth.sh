#!/usr/bin/env bash
# How the baselines' costs grow with log size, to set beside veritrail's
# bench/scale.sh: for each size, a fresh PostgreSQL hash-chain table and a
# fresh SQLite chain loaded in 1,000-row transactions (rate), the memory the
# system holds after loading (PostgreSQL: proportional set size summed over
# its processes; SQLite: the loading process's max RSS), a full chain walk
# (rate), and recovery after a crash (PostgreSQL: `pg_ctl stop -m immediate`,
# then a timed start; SQLite: the loader is SIGKILLed mid-transaction, then
# the time to open the database and read the chain head, as a restarted
# application does).
#
# Usage: bench/growth.sh [SIZES...]   (default: 1000000 10000000)
# Needs about 550 bytes of disk per event of the largest size (one system at a time). Prints a Markdown table.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sizes=("${@:-1000000 10000000}")
cargo build -q --release -p veritrail-bench --bin baseline --manifest-path "$here/Cargo.toml"
bl="$here/target/release/baseline"
work=$(mktemp -d /tmp/veritrail-growth.XXXXXX); chmod 755 "$work"
port=$((26000 + RANDOM % 1000)) # below the ephemeral range
# shellcheck source=bench/pg.sh
. "$here/bench/pg.sh"
cleanup() { pg_stop; rm -rf "$work"; }
trap cleanup EXIT
pg_start "$work" "$port"
url=$pg
j() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
pss_mib() {
  local t=0
  for p in $(pgrep -u postgres -f "$work/pg" ; pgrep -u postgres -P "$(head -1 "$work/pg/postmaster.pid")"); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0); t=$((t + ${v:-0}))
  done
  echo $((t / 1024))
}
now() { date +%s.%N; }

echo "| system | events | load events/s | memory after load | verify events/s | recovery after a crash | disk bytes/event |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for n in ${sizes[@]}; do
  "$bl" pg-setup --url "$url"
  load=$("$bl" pg-ingest --url "$url" --events "$n" --batch 1000)
  mem=$(pss_mib)
  ver=$("$bl" pg-verify --url "$url")
  size=$("$bl" pg-size --url "$url")
  pgctl -m immediate stop
  t0=$(now); pgctl -w start; t1=$(now)
  printf '| PostgreSQL 15 | %s | %.0f | %s MiB (PSS) | %.0f | %.2f s | %.0f |\n' "$n" "$(j "$load" events_per_s)" "$mem" \
    "$(j "$ver" events_per_s)" "$(python3 -c "print($t1-$t0)")" "$(j "$size" bytes_per_event)"
  # Free the table's disk before SQLite's copy (100 M rows: ~50 GB each).
  "$bl" pg-setup --url "$url"

  db="$work/chain-$n.sqlite"
  /usr/bin/time -f "%M" -o "$work/rss" "$bl" sqlite-ingest --path "$db" --events "$n" --batch 1000 > "$work/load.json"
  load=$(cat "$work/load.json"); rss=$(( $(cat "$work/rss") / 1024 ))
  ver=$("$bl" sqlite-verify --path "$db")
  disk=$(du -cb "$db"* | tail -1 | cut -f1)
  # Crash: a loader appending more is killed mid-transaction; then reopen.
  "$bl" sqlite-ingest --path "$db" --events 100000000 --batch 1000 >/dev/null 2>&1 & pid=$!
  sleep 2; kill -9 "$pid"; wait "$pid" 2>/dev/null || true
  t0=$(now); sqlite3 "$db" 'SELECT id, hex(hash) FROM audit_events ORDER BY id DESC LIMIT 1;' >/dev/null; t1=$(now)
  printf '| SQLite (WAL, FULL) | %s | %.0f | %s MiB (RSS) | %.0f | %.2f s | %.0f |\n' "$n" "$(j "$load" events_per_s)" "$rss" \
    "$(j "$ver" events_per_s)" "$(python3 -c "print($t1-$t0)")" "$(python3 -c "print($disk/$n)")"
  rm -f "$db"*
done
