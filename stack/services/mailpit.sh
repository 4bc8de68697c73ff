# Mailpit (Go, MIT): an SMTP server that keeps every message it accepts and shows them through an
# HTTP API, so the tests can read the mail Lethe sends to the people behind privacy requests.
# Built with `go install` from the Go module proxy and cached; its web UI's script bundle is made
# by an npm build upstream ships only in its release binaries and image, so this build answers the
# API (/api/v1/...) and SMTP, and its web page stays blank (docker-compose's image has the UI).
MAILPIT_BIN="$LETHE_CACHE/bin/mailpit-$MAILPIT_VERSION"

# Recipients at the reserved .invalid top-level domain (RFC 2606: it can never be delivered) are
# refused at RCPT with 550, as a real server refuses a mailbox it does not have; everything else is
# accepted. Go's regexp has no lookahead, so "does not end with .invalid" is spelled out: shorter
# than 8 characters, or the last 8 differ from ".invalid" at some position.
MAILPIT_ALLOWED_RECIPIENTS='(?i)^(?:.{0,7}|.*(?:[^.].{7}|\.[^i].{6}|\.i[^n].{5}|\.in[^v].{4}|\.inv[^a].{3}|\.inva[^l].{2}|\.inval[^i].|\.invali[^d]))$'

mailpit_install() {
  [ -x "$MAILPIT_BIN" ] && return 0
  require_cmd go "Go (https://go.dev/doc/install or the golang Debian package)"
  say "mailpit: go install $MAILPIT_MODULE@$MAILPIT_VERSION (first time: one to three minutes)"
  local gobin; gobin="$(mktemp -d)"
  GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOBIN="$gobin" \
    go install -p="${LETHE_GO_BUILD_JOBS:-2}" -ldflags "-s -w -X $MAILPIT_MODULE/config.Version=$MAILPIT_VERSION" \
    "$MAILPIT_MODULE@$MAILPIT_VERSION" || { rm -rf "$gobin"; die "go install of $MAILPIT_MODULE@$MAILPIT_VERSION failed"; }
  mkdir -p "$(dirname "$MAILPIT_BIN")"
  mv "$gobin/mailpit" "$MAILPIT_BIN"
  rm -rf "$gobin"
}

mailpit_start() {
  if pid_alive mailpit && mailpit_check; then return 0; fi
  stop_pid mailpit  # a recorded process that does not answer is restarted
  ensure_ports_free mailpit "$SMTP_PORT" "$MAILPIT_PORT"
  local dir; dir="$(service_dir mailpit)"
  mkdir -p "$dir"
  # Any SMTP login is accepted (without TLS too), so an smtp:// URL with credentials works here as
  # it would against a relay that wants them; no update check (no network), no reverse DNS.
  start_bg mailpit "$MAILPIT_BIN" --smtp "127.0.0.1:$SMTP_PORT" --listen "127.0.0.1:$MAILPIT_PORT" \
    --database "$dir/mailpit.db" --max 5000 --disable-version-check --smtp-disable-rdns \
    --smtp-auth-accept-any --smtp-auth-allow-insecure --smtp-allowed-recipients "$MAILPIT_ALLOWED_RECIPIENTS"
  wait_healthy mailpit mailpit_check
}

mailpit_check() { curl -fsS -o /dev/null "http://127.0.0.1:$MAILPIT_PORT/api/v1/info" && port_open "$SMTP_PORT"; }
mailpit_stop() { stop_pid mailpit; }
mailpit_env() {
  echo "SMTP_URL=smtp://127.0.0.1:$SMTP_PORT"
  echo "MAILPIT_URL=http://127.0.0.1:$MAILPIT_PORT"
}
