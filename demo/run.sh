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

step "the tracker API's tokens (lethe token create): the hashes go to LETHE_API_TOKENS, the secrets to $log_dir (mode 600)"
# New tokens each run: an operator (confirms through the API) and a reader (the dashboard, the
# status checks below). The catalog lists none; the tracker reads the hashes from the environment.
umask 077
lethe token create --name demo-operator --role operator --json >"$log_dir/operator.json"
lethe token create --name demo-reader --role reader --json >"$log_dir/reader.json"
umask 022
json() { node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2]])' "$@"; }
export LETHE_API_TOKENS="$(json "$log_dir/operator.json" env),$(json "$log_dir/reader.json" env)"
export LETHE_TRACKER_TOKEN="$(json "$log_dir/reader.json" token)"
echo "LETHE_API_TOKENS=$LETHE_API_TOKENS"

step "lethe init: publication, slot, topics, schema registration"
lethe init

step "the shop's other copies: Redis, Elasticsearch indices, BigQuery tables, compacted topics (before doctor, which checks the indices' mappings)"
node demo/stores.mjs setup

step "lethe doctor"
lethe doctor

step "lethe run: the CDC reader, one consumer group per sink, and the tracker (in the background, log in $log_dir/lethe.log)"
# A Lethe left running by an earlier demo is replaced; this one keeps running after the demo (for
# the dashboard) until `make down`.
if [ -f "$log_dir/lethe.pid" ]; then kill -TERM "$(cat "$log_dir/lethe.pid")" 2>/dev/null || true; sleep 1; fi
nohup node bin/lethe.js run >"$log_dir/lethe.log" 2>&1 &
lethe_pid=$!
echo "$lethe_pid" >"$log_dir/lethe.pid"
# On failure, stop it and show why; on success it stays up.
trap 'status=$?; if [ $status -ne 0 ]; then kill -TERM $lethe_pid 2>/dev/null; rm -f "$log_dir/lethe.pid"; echo "lethe run log (tail):" >&2; tail -n 20 "$log_dir/lethe.log" >&2; fi' EXIT

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
-- Only the neighbour has an invoice: the application's own delete below would be refused by it.
INSERT INTO shop.invoices (id, user_id, amount) VALUES ($neighbour * 10 + 1, $neighbour, 5);
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

step "the tracker: every sink acknowledged; the support inbox (a manual system) is still to confirm"
node demo/tracker.mjs wait "user:$user" partial,complete

step "support confirms through the API with the operator token (a confirmation without one is refused: 401)"
LETHE_TRACKER_READ_TOKEN="$(json "$log_dir/reader.json" token)" LETHE_TRACKER_TOKEN="" node demo/tracker.mjs confirm "user:$user" support-inbox "support desk" "no tickets found" || true
LETHE_TRACKER_TOKEN="$(json "$log_dir/operator.json" token)" node demo/tracker.mjs confirm "user:$user" support-inbox "support desk" "no tickets found"
node demo/tracker.mjs wait "user:$user" complete

step "the proof of erasure (lethe report user:$user)"
lethe report "user:$user"

tracker_url=http://127.0.0.1:8720   # lethe.config.yaml: tracker.host and tracker.port
step "the dashboard: $tracker_url (also the status API under /api and Prometheus metrics at /metrics)"
echo "It asks for a token: the reader's is in $log_dir/reader.json (\"token\"); the operator's in $log_dir/operator.json."
echo "Lethe keeps running in the background (pid $lethe_pid, log $log_dir/lethe.log); 'make down' stops it with the stack."
echo "After restoring a backup of a store: lethe replay --sink <name> --since <backup time>"

