#!/usr/bin/env bash
# `make demo`: the demo shop's user is deleted in PostgreSQL and Lethe publishes the erasure.
# Runs against the stack `make up` started (endpoints in .stack/env).
set -euo pipefail
cd "$(dirname "$0")/.."
set -a; source .stack/env; set +a
export PGOPTIONS="-c client_min_messages=warning"
lethe() { node bin/lethe.js "$@"; }
log_dir=.stack/demo
mkdir -p "$log_dir"

step() { printf '\n== %s\n' "$*"; }

step "the demo shop's schema (demo/schema.sql) and Lethe's catalog (lethe.config.yaml)"
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -f demo/schema.sql

step "lethe init: publication, slot, topics, schema registration"
lethe init

step "lethe doctor"
lethe doctor

step "the shop's other copies: Redis, Elasticsearch indices, BigQuery tables, compacted topics"
node demo/stores.mjs setup

step "lethe run: the CDC reader and one consumer group per sink (in the background, log in $log_dir/lethe.log)"
lethe run >"$log_dir/lethe.log" 2>&1 &
reader=$!
trap 'kill -TERM $reader 2>/dev/null; wait $reader 2>/dev/null || true' EXIT

# A fresh user each run, with orders and messages, and a neighbour who stays.
user=$(psql -tA -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "SELECT coalesce(max(id), 1000) + 1 FROM shop.users")
neighbour=$((user + 1))
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
INSERT INTO shop.users (id, email, name) VALUES
  ($user, 'ada.$user@example.test', 'Ada Lovelace'), ($neighbour, 'bob.$neighbour@example.test', 'Bob');
INSERT INTO shop.orders (id, user_id, total)
  SELECT ($user * 10) + g, $user, 9.90 * g FROM generate_series(1, 3) g;
INSERT INTO shop.orders (id, user_id, total) VALUES ($neighbour * 10 + 1, $neighbour, 5);
INSERT INTO shop.messages (id, sender_id, body) VALUES ($user * 10 + 1, $user, 'hello'), ($neighbour * 10 + 1, $neighbour, 'hi');
SQL
node demo/stores.mjs seed "$user" "$neighbour"
step "user $user has 3 orders and 1 message, copied into every store; user $neighbour is the neighbour"
node demo/stores.mjs show "$user" "$neighbour"

step "the application deletes user $user (orders and messages cascade)"
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "DELETE FROM shop.users WHERE id = $user"

step "the SubjectErased event Lethe published (lethe events --subject user:$user)"
if ! lethe events --subject "user:$user" --wait 30; then
  echo "no event for user:$user within 30 s; the reader's log:" >&2
  tail -n 30 "$log_dir/lethe.log" >&2
  exit 1
fi

step "every store, once each sink's consumer group has applied and verified the erasure"
node demo/stores.mjs wait-clean "$user"
node demo/stores.mjs show "$user" "$neighbour"

step "the replication slot, confirmed behind Kafka (lethe doctor)"
lethe doctor | grep -E 'slot|checks'
