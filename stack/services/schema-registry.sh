# AxonOps Schema Registry (Go, Apache-2.0), speaks the Confluent REST API. Schemas are stored in
# the stack's Postgres (database schema_registry) so they survive a restart: Kafka keeps records
# that carry schema ids, and a registry that forgot them would make those records undecodable.
SCHEMA_REGISTRY_BIN="$LETHE_CACHE/bin/schema-registry-$SCHEMA_REGISTRY_VERSION"

schema-registry_install() {
  [ -x "$SCHEMA_REGISTRY_BIN" ] && return 0
  say "schema-registry: building $SCHEMA_REGISTRY_MODULE@$SCHEMA_REGISTRY_VERSION (first time: a few minutes)"
  go_build_module "$SCHEMA_REGISTRY_MODULE" "$SCHEMA_REGISTRY_VERSION" cmd/schema-registry "$SCHEMA_REGISTRY_BIN"
}

schema-registry_start() {
  if pid_alive schema-registry && schema-registry_check; then return 0; fi
  stop_pid schema-registry  # a recorded process that does not answer is restarted
  ensure_ports_free schema-registry "$SCHEMA_REGISTRY_PORT"
  mkdir -p "$(service_dir schema-registry)"
  # The stack's Postgres trusts loopback, but an empty password would make the registry's
  # key=value DSN swallow the next key ("password= sslmode=disable"), so a dummy one is passed.
  start_bg schema-registry env \
    SCHEMA_REGISTRY_HOST=127.0.0.1 SCHEMA_REGISTRY_PORT="$SCHEMA_REGISTRY_PORT" \
    SCHEMA_REGISTRY_STORAGE_TYPE=postgresql SCHEMA_REGISTRY_COMPATIBILITY_LEVEL=BACKWARD \
    SCHEMA_REGISTRY_PG_HOST=127.0.0.1 SCHEMA_REGISTRY_PG_PORT="$PG_PORT" \
    SCHEMA_REGISTRY_PG_DATABASE=schema_registry SCHEMA_REGISTRY_PG_USER=postgres \
    SCHEMA_REGISTRY_PG_PASSWORD=trust-auth-ignores-this SCHEMA_REGISTRY_PG_SSLMODE=disable \
    "$SCHEMA_REGISTRY_BIN"
  wait_healthy schema-registry schema-registry_check
}

schema-registry_check() { curl -fsS -o /dev/null "http://127.0.0.1:$SCHEMA_REGISTRY_PORT/subjects"; }
schema-registry_stop() { stop_pid schema-registry; }
schema-registry_env() { echo "SCHEMA_REGISTRY_URL=http://127.0.0.1:$SCHEMA_REGISTRY_PORT"; }
