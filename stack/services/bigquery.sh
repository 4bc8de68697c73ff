# goccy/bigquery-emulator, built from the Go module proxy (pure Go since v0.7; the first build of
# its generated SQL engine takes minutes and several GiB of memory, then the binary is cached).
BQ_BIN="$LETHE_CACHE/bin/bigquery-emulator-$BQ_EMULATOR_VERSION"

bigquery_install() {
  [ -x "$BQ_BIN" ] && return 0
  say "bigquery: building $BQ_EMULATOR_MODULE@$BQ_EMULATOR_VERSION (first time: 5-10 minutes)"
  go_build_module "$BQ_EMULATOR_MODULE" "$BQ_EMULATOR_VERSION" cmd/bigquery-emulator "$BQ_BIN"
}

bigquery_start() {
  if pid_alive bigquery && bigquery_check; then return 0; fi
  stop_pid bigquery  # a recorded process that does not answer is restarted
  ensure_ports_free bigquery "$BQ_PORT" "$BQ_GRPC_PORT"
  local dir; dir="$(service_dir bigquery)"
  mkdir -p "$dir"
  # The emulator slows down with every job it keeps (stack/bigquery/job-janitor.mjs): the janitor
  # runs beside it, in its process group, and the shell then becomes the emulator (same pid).
  start_bg bigquery bash -c 'node "$1" "$2" "$3" & exec "${@:4}"' _ \
    "$ROOT_DIR/stack/bigquery/job-janitor.mjs" "http://127.0.0.1:$BQ_PORT" "$BQ_PROJECT" \
    "$BQ_BIN" --project="$BQ_PROJECT" --host=127.0.0.1 --port="$BQ_PORT" \
    --grpc-port="$BQ_GRPC_PORT" --database="$dir/emulator.db" --log-level=warn
  wait_healthy bigquery bigquery_check
}

bigquery_check() {
  curl -fsS -o /dev/null "http://127.0.0.1:$BQ_PORT/bigquery/v2/projects/$BQ_PROJECT/datasets"
}
bigquery_stop() { stop_pid bigquery; }
bigquery_env() {
  echo "BIGQUERY_API_ENDPOINT=http://127.0.0.1:$BQ_PORT"
  echo "BIGQUERY_PROJECT_ID=$BQ_PROJECT"
}
