# Redis from Debian's redis-server, with an append-only file: a restart (a failover, a fault test) keeps
# the data, as a production Redis would, so a restart never passes for an erasure.
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
