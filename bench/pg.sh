# Sourced by bench/run.sh and bench/growth.sh: a throw-away PostgreSQL cluster
# on 127.0.0.1, owned by the `postgres` user, under "$work/pg", configured as a
# competent operator would for a durable, write-heavy audit table.
#   pg_start WORK PORT   sets $pgbin and $pg (a libpq connection string)
#   pgctl ARGS…          runs pg_ctl on that cluster (-w start, -m immediate stop, …)
#   pg_stop              stops it immediately (for cleanup traps)

pgctl() { runuser -u postgres -- "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pglog/pg.log" "$@" >/dev/null; }

pg_start() {
  local port=$2
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  mkdir -p "$work/pg" "$work/pglog" && chown postgres "$work/pg" "$work/pglog"
  runuser -u postgres -- "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
  cat >> "$work/pg/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work/pg'
max_connections = 200
# Durability as for an audit log: every commit flushed before it returns.
fsync = on
synchronous_commit = on
full_page_writes = on
# Tuned for write-heavy load.
shared_buffers = 2GB
wal_buffers = 64MB
max_wal_size = 16GB
checkpoint_timeout = 30min
EOF
  pgctl -w start
  pg="host=127.0.0.1 port=$port user=postgres dbname=postgres"
}

pg_stop() { [ -n "${pgbin:-}" ] && pgctl -m immediate stop 2>/dev/null || true; }
