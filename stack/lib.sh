# Shared helpers for the native stack scripts. Sourced, never run.
# Layout: downloads and builds are cached under $LETHE_CACHE (home directory), so a second
# `make up` on the same machine is quick; data, logs and pid files live under $STACK_DIR
# (the ignored .stack/ folder of the checkout).
set -euo pipefail

ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STACK_DIR="${LETHE_STACK_DIR:-$ROOT_DIR/.stack}"
LETHE_CACHE="${LETHE_CACHE:-$HOME/.cache/lethe}"
ENV_FILE="$STACK_DIR/env"
HEALTH_DEADLINE="${LETHE_HEALTH_DEADLINE:-120}"

# Every port can be moved so the stack does not collide with a user's own servers.
PG_PORT="${LETHE_PG_PORT:-55432}"
KAFKA_PORT="${LETHE_KAFKA_PORT:-59092}"
KAFKA_CONTROLLER_PORT="${LETHE_KAFKA_CONTROLLER_PORT:-59093}"
SCHEMA_REGISTRY_PORT="${LETHE_SCHEMA_REGISTRY_PORT:-58081}"
REDIS_PORT="${LETHE_REDIS_PORT:-56379}"
ES_PORT="${LETHE_ES_PORT:-59200}"
ES_TRANSPORT_PORT="${LETHE_ES_TRANSPORT_PORT:-59300}"
BQ_PORT="${LETHE_BQ_PORT:-59050}"
BQ_GRPC_PORT="${LETHE_BQ_GRPC_PORT:-59060}"
BQ_PROJECT="${LETHE_BQ_PROJECT:-lethe-local}"
SMTP_PORT="${LETHE_SMTP_PORT:-51025}"
MAILPIT_PORT="${LETHE_MAILPIT_PORT:-58025}"

# Pinned versions: changing one invalidates its cache entry.
KAFKA_VERSION="3.9.1"
SCHEMA_REGISTRY_MODULE="github.com/axonops/axonops-schema-registry"
SCHEMA_REGISTRY_VERSION="v0.2.1"
BQ_EMULATOR_MODULE="github.com/goccy/bigquery-emulator"
BQ_EMULATOR_VERSION="v0.8.1"
MAILPIT_MODULE="github.com/axllent/mailpit"
MAILPIT_VERSION="v1.33.1"

SERVICES=(postgres redis kafka schema-registry elasticsearch bigquery mailpit)

say() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (no sudo found)"; fi
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    say "apt-get update"
    as_root apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
  say "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

require_cmd() { # require_cmd CMD WHAT-TO-INSTALL
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found: install $2"
}

service_dir() { echo "$STACK_DIR/$1"; }
pid_file() { echo "$STACK_DIR/$1/$1.pid"; }
log_file() { echo "$STACK_DIR/$1/$1.log"; }

pid_alive() { # pid_alive NAME -> 0 when the recorded pid is running
  local f; f="$(pid_file "$1")"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start_bg NAME CMD... : runs CMD detached in its own session, logs to the service log, records its pid.
start_bg() {
  local name="$1"; shift
  local log; log="$(log_file "$name")"
  mkdir -p "$(service_dir "$name")"
  : >"$log"
  # Without job control a background child is no group leader, so setsid execs in place and
  # $! is the service's own pid, leading its own process group (stop_pid signals the group).
  setsid nohup "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$(pid_file "$name")"
}

# stop_pid NAME: TERM the recorded process group, wait up to 30 s, then KILL.
stop_pid() {
  local name="$1" f pid i
  f="$(pid_file "$name")"
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $name (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name did not stop in 30 s: killing"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$f"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# reserve_ports PORT...: the stack's ports lie inside Linux's ephemeral range (32768-60999), so an
# outgoing connection can be handed one as its source port; a service restarted then cannot bind
# it (seen: Elasticsearch's transport port, during a fault test). Reserving them keeps the kernel
# from doing so. Best effort: it needs root, and a machine without it only keeps the small risk.
reserve_ports() {
  local file=/proc/sys/net/ipv4/ip_local_reserved_ports current wanted
  [ -w "$file" ] || return 0
  current="$(cat "$file")"
  wanted="$(printf '%s\n' ${current//,/ } "$@" | grep -v '^$' | sort -un | paste -sd, -)"
  [ "$wanted" = "$current" ] || echo "$wanted" >"$file" 2>/dev/null || true
}

# ensure_ports_free NAME PORT...: a port already answering belongs to someone else (this stack's
# own running services return before this check), so say so rather than adopt a stranger's server.
ensure_ports_free() {
  local name="$1" port; shift
  for port in "$@"; do
    if port_open "$port"; then
      die "$name: port $port on 127.0.0.1 is already in use by another process; stop it or move $name with the LETHE_*_PORT variables (see README)"
    fi
  done
}

# wait_healthy NAME CHECK-FUNCTION: polls until the check passes, the process dies, or the deadline.
wait_healthy() {
  local name="$1" check="$2" start now
  start=$(date +%s)
  while true; do
    if "$check" >/dev/null 2>&1; then
      say "$name is up ($(( $(date +%s) - start )) s)"
      return 0
    fi
    if ! pid_alive "$name"; then
      fail_service "$name" "the process exited during start-up"
    fi
    now=$(date +%s)
    if [ $(( now - start )) -ge "$HEALTH_DEADLINE" ]; then
      fail_service "$name" "no healthy answer within ${HEALTH_DEADLINE} s"
    fi
    sleep 0.5
  done
}

fail_service() { # fail_service NAME REASON: names the service and shows the tail of its log
  local log; log="$(log_file "$1")"
  {
    printf '[stack] ERROR: %s failed to start: %s\n' "$1" "$2"
    printf '[stack] last lines of %s:\n' "$log"
    tail -n 30 "$log" 2>/dev/null | sed 's/^/    /'
  } >&2
  exit 1
}

# go_build_module MODULE VERSION PACKAGE OUTPUT: builds a Go command from a module at a tag.
# `go install pkg@version` asks the proxy for the module's version list (to check deprecation),
# which the registry proxy reachable here refuses; downloading the exact version and building
# it as the main module needs only the .info/.mod/.zip of each module, and uses its go.sum.
go_build_module() {
  local module="$1" version="$2" pkg="$3" out="$4" dir
  require_cmd go "Go (https://go.dev/doc/install or the golang Debian package)"
  export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
  dir="$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [ -n "$dir" ] && [ -d "$dir" ] || die "could not download Go module $module@$version"
  mkdir -p "$(dirname "$out")"
  (cd "$dir" && go build -p="${LETHE_GO_BUILD_JOBS:-2}" -o "$out.tmp" "./$pkg") || die "go build of $module@$version failed"
  mv "$out.tmp" "$out"
}
