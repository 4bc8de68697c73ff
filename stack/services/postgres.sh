# PostgreSQL 15 from Debian's postgresql-15, one cluster under $STACK_DIR/postgres, wal_level=logical.
PG_BIN=/usr/lib/postgresql/15/bin

postgres_install() {
  [ -x "$PG_BIN/postgres" ] || apt_install postgresql-15 postgresql-client-15
}

# initdb and the postmaster refuse to run as root: as root they run as the `postgres` system user,
# which must be able to reach the data directory.
pg_run() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

postgres_datadir() {
  local dir; dir="$(service_dir postgres)"
  if [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    runuser -u postgres -- test -w "$dir" \
      || die "postgres: the postgres user cannot write $dir (a parent folder is not traversable); move the checkout or set LETHE_STACK_DIR"
  fi
  echo "$dir/data"
}

postgres_start() {
  local data; data="$(postgres_datadir)"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "postgres: initdb $data"
    pg_run "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$(log_file postgres).initdb" 2>&1 \
      || { cat "$(log_file postgres).initdb" >&2; die "postgres: initdb failed"; }
  fi
  if [ -f "$data/postmaster.pid" ] && postgres_check; then return 0; fi
  ensure_ports_free postgres "$PG_PORT"
  local log; log="$(log_file postgres)"
  touch "$log"; [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$log"
  # Settings for change data capture (logical decoding, enough slots for parallel tests) and a
  # throwaway dev cluster (fsync off); see STACK-NOTES.md.
  pg_run "$PG_BIN/pg_ctl" -D "$data" -l "$log" -s -w -t "$HEALTH_DEADLINE" start -o "\
-c listen_addresses=127.0.0.1 -p $PG_PORT -k $(service_dir postgres) \
-c wal_level=logical -c max_replication_slots=64 -c max_wal_senders=64 -c max_connections=200 \
-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c wal_sender_timeout=60s" \
    || fail_service postgres "pg_ctl start failed"
  head -n 1 "$data/postmaster.pid" >"$(pid_file postgres)"
  wait_healthy postgres postgres_check
  pg_run "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'lethe'" | grep -q 1 \
    || pg_run "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres lethe
  pg_run "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = 'schema_registry'" | grep -q 1 \
    || pg_run "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres schema_registry
}

postgres_check() {
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres
}

postgres_stop() {
  local data; data="$(service_dir postgres)/data"
  if [ -f "$data/postmaster.pid" ]; then
    say "stopping postgres"
    pg_run "$PG_BIN/pg_ctl" -D "$data" -s -m fast -w stop || true
  fi
  rm -f "$(pid_file postgres)"
}

postgres_env() {
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/lethe"
}
