#!/usr/bin/env bash
# The native stack: `stack.sh up|down|status|env [service...]`. See README.md, "The stack".
source "$(dirname "$0")/lib.sh"
for f in "$ROOT_DIR"/stack/services/*.sh; do source "$f"; done

usage() {
  echo "usage: stack/stack.sh up|down|status|env [service...] | browser"
  echo "services: ${SERVICES[*]}"
}

selected() { if [ $# -gt 0 ]; then echo "$@"; else echo "${SERVICES[@]}"; fi; }

check_known() {
  local s known
  for s in "$@"; do
    known=""
    for k in "${SERVICES[@]}"; do [ "$k" = "$s" ] && known=1; done
    [ -n "$known" ] || { usage >&2; die "unknown service '$s'"; }
  done
}

write_env() {
  mkdir -p "$STACK_DIR"
  {
    echo "# Written by 'make up': endpoints of the native stack. Source it or let make/vitest read it."
    for s in "${SERVICES[@]}"; do "${s}_env"; done
    demo_hmac_key_env
    request_secret_env
  } >"$ENV_FILE.tmp"
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# The demo catalog's hmac key (lethe.config.yaml: pseudonymization.hmacKey demo1): a random secret
# made once per stack directory and kept across `make up`s (so the demo's pseudonyms stay stable),
# never committed. .stack/env names the file, not the secret.
demo_hmac_key_env() {
  local file="$STACK_DIR/demo-hmac-key"
  if [ ! -s "$file" ]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file.tmp") && mv "$file.tmp" "$file"
  fi
  echo "LETHE_HMAC_KEY_DEMO1_FILE=$file"
}

# The secret behind privacy requests' mailed links and codes (LETHE_REQUEST_SECRET_FILE), made
# the same way: once per stack directory, never committed, named by .stack/env, never written in it.
request_secret_env() {
  local file="$STACK_DIR/request-secret"
  if [ ! -s "$file" ]; then
    (umask 077 && head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$file.tmp") && mv "$file.tmp" "$file"
  fi
  echo "LETHE_REQUEST_SECRET_FILE=$file"
}

version_at_least() { # version_at_least HAVE WANT (dotted numbers)
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

# Tools the services are built or run with. Debian supplies Java, Maven and curl; Go and Node.js
# must be newer than Debian 12 ships, so their absence is an error with a pointer, not an install.
install_prerequisites() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  [ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
  local go_version
  command -v go >/dev/null 2>&1 || die "Go 1.26 or newer is needed to build the schema registry, the BigQuery emulator and Mailpit (https://go.dev/doc/install)"
  go_version="$(go env GOVERSION | sed 's/^go//')"
  version_at_least "$go_version" 1.26 || die "Go $go_version is too old: 1.26 or newer is needed (https://go.dev/doc/install)"
}

cmd_up() {
  local s t0; t0=$(date +%s)
  mkdir -p "$STACK_DIR" "$LETHE_CACHE"
  install_prerequisites
  reserve_ports "$PG_PORT" "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" "$SCHEMA_REGISTRY_PORT" "$REDIS_PORT" "$ES_PORT" "$ES_TRANSPORT_PORT" "$BQ_PORT" "$BQ_GRPC_PORT" "$SMTP_PORT" "$MAILPIT_PORT"
  for s in $(selected "$@"); do "${s}_install"; done
  for s in $(selected "$@"); do "${s}_start"; done
  write_env
  say "stack ready in $(( $(date +%s) - t0 )) s; endpoints ($ENV_FILE):"
  grep -v '^#' "$ENV_FILE"
}

# The headless browser the dashboard test drives (Debian's chromium through playwright-core).
# Not a service: installed once, nothing to start.
cmd_browser() {
  if [ -x /usr/bin/chromium ]; then say "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"; return; fi
  apt_install chromium
  [ -x /usr/bin/chromium ] || die "chromium: installed, but /usr/bin/chromium is missing"
}

cmd_down() {
  local s list pid
  list=($(selected "$@"))
  # The Lethe that `make demo` left running for its dashboard goes first: it uses every service.
  if [ $# -eq 0 ] && [ -f "$STACK_DIR/demo/lethe.pid" ]; then
    pid="$(cat "$STACK_DIR/demo/lethe.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      say "stopping the demo's lethe run (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$STACK_DIR/demo/lethe.pid"
  fi
  # Reverse order: dependants (the registry stores in Postgres) stop first.
  for (( i=${#list[@]}-1; i>=0; i-- )); do "${list[$i]}_stop"; done
}

cmd_status() {
  local s state rc=0 pid
  for s in $(selected "$@"); do
    pid="-"; [ -f "$(pid_file "$s")" ] && pid="$(cat "$(pid_file "$s")")"
    if "${s}_check" >/dev/null 2>&1; then state="healthy"
    elif pid_alive "$s"; then state="running, not answering"; rc=1
    else state="stopped"; rc=1; fi
    printf '%-16s %-24s pid %-8s %s\n' "$s" "$state" "$pid" "$("${s}_env" | head -n 1)"
  done
  return $rc
}

verb="${1:-}"; [ $# -gt 0 ] && shift
[ $# -gt 0 ] && check_known "$@"
case "$verb" in
  up) cmd_up "$@" ;;
  down) cmd_down "$@" ;;
  status) cmd_status "$@" ;;
  env) for s in "${SERVICES[@]}"; do "${s}_env"; done ;;
  browser) cmd_browser ;;
  *) usage >&2; exit 2 ;;
esac
