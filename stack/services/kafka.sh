# Apache Kafka (KRaft, single node, combined broker+controller) from Maven Central.
KAFKA_HOME_DIR="$LETHE_CACHE/kafka-$KAFKA_VERSION"

kafka_install() {
  local stamp="$KAFKA_HOME_DIR/.complete"
  [ -f "$stamp" ] && return 0
  require_cmd java "a Java 17+ runtime (Debian: openjdk-17-jre-headless)"
  require_cmd mvn "Maven (Debian: maven)"
  say "kafka: collecting kafka_2.13:$KAFKA_VERSION from Maven Central"
  rm -rf "$KAFKA_HOME_DIR"; mkdir -p "$KAFKA_HOME_DIR/lib"
  mvn -q -B -f "$ROOT_DIR/stack/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME_DIR/lib" \
    || die "kafka: Maven could not collect the broker's classpath"
  touch "$stamp"
}

KAFKA_JAVA=(java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$ROOT_DIR/stack/kafka/log4j.properties" -cp "$KAFKA_HOME_DIR/lib/*")

kafka_start() {
  if pid_alive kafka && kafka_check; then return 0; fi
  stop_pid kafka  # a recorded process that does not answer is restarted
  ensure_ports_free kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
  local dir props
  dir="$(service_dir kafka)"; props="$dir/server.properties"
  mkdir -p "$dir/data"
  # Compaction must be the real log cleaner, quick enough for tests to observe (STACK-NOTES.md).
  cat >"$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.cleaner.enable=true
log.cleaner.backoff.ms=1000
log.retention.check.interval.ms=5000
PROPS
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id
    cluster_id="$("${KAFKA_JAVA[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    "${KAFKA_JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$props" --ignore-formatted \
      >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "kafka: storage format failed"; }
  fi
  start_bg kafka "${KAFKA_JAVA[@]}" kafka.Kafka "$props"
  wait_healthy kafka kafka_check
}

# The broker logs this line once it serves requests; the port alone opens earlier.
kafka_check() {
  port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$(log_file kafka)"
}
kafka_stop() { stop_pid kafka; }
kafka_env() { echo "KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT"; }
