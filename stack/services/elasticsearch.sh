# A real Elasticsearch 8 node, started in-JVM by a small launcher (stack/elasticsearch/) built from
# Maven Central artifacts, the way Elasticsearch's own test framework starts nodes.
ES_BUILD_DIR="$LETHE_CACHE/elasticsearch-launcher"

elasticsearch_install() {
  require_cmd java "a Java 17+ runtime (Debian: openjdk-17-jdk-headless)"
  require_cmd mvn "Maven (Debian: maven)"
  "$ROOT_DIR/stack/elasticsearch/build.sh" "$ES_BUILD_DIR" || die "elasticsearch: launcher build failed"
}

elasticsearch_start() {
  if pid_alive elasticsearch && elasticsearch_check; then return 0; fi
  stop_pid elasticsearch  # a recorded process that does not answer is restarted
  ensure_ports_free elasticsearch "$ES_PORT" "$ES_TRANSPORT_PORT"
  local dir; dir="$(service_dir elasticsearch)"
  mkdir -p "$dir"
  start_bg elasticsearch java -Xms512m -Xmx1g -XX:+UseG1GC -Djava.awt.headless=true \
    -cp "$ES_BUILD_DIR/lib/*" dev.lethe.es.Launcher \
    --home "$dir/home" --http-port "$ES_PORT" --transport-port "$ES_TRANSPORT_PORT"
  wait_healthy elasticsearch elasticsearch_check
}

elasticsearch_check() {
  curl -fsS "http://127.0.0.1:$ES_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" | grep -q '"status":"\(green\|yellow\)"'
}
elasticsearch_stop() { stop_pid elasticsearch; }
elasticsearch_env() { echo "ELASTICSEARCH_URL=http://127.0.0.1:$ES_PORT"; }
