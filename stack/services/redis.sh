# Redis from Debian's redis-server. An append-only file keeps the data through a restart (as a
# failover to a replica would): the chaos run (src/chaos/) stops and starts Redis and then checks
# that neighbours kept their keys, which a Redis that forgets everything on restart cannot show.
redis_install() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
}

redis_start() {
  if pid_alive redis && redis_check; then return 0; fi
  stop_pid redis  # a recorded process that does not answer is restarted
  ensure_ports_free redis "$REDIS_PORT"
  local dir; dir="$(service_dir redis)"
  mkdir -p "$dir"
  start_bg redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" \
    --save '' --appendonly yes --appendfsync everysec --daemonize no --protected-mode yes
  wait_healthy redis redis_check
}

redis_check() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
redis_stop() { stop_pid redis; }
redis_env() { echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT"; }
