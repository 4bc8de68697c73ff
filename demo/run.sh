#!/usr/bin/env bash
# `make demo`: the demo shop's user is deleted in PostgreSQL and Lethe publishes the erasure; then a
# privacy request by email is carried from intake to its proof (verification, grace period, a hold).
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
# The slot an earlier demo left (not streaming) holds every change made in the database since,
# which the reader would read through before this run's erasure: this demo starts from now.
stale=$(psql -Atq "$DATABASE_URL" -c "SELECT pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)) FROM pg_replication_slots WHERE slot_name = 'lethe' AND NOT active")
if [ -n "$stale" ]; then
  echo "dropping the slot lethe an earlier demo left ($stale of changes behind); lethe init creates it again"
  psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" -c "SELECT pg_drop_replication_slot('lethe')" >/dev/null
fi
lethe init

step "the shop's other copies: Redis, Elasticsearch indices, BigQuery tables, compacted topics (before doctor, which checks the indices' mappings)"
node demo/stores.mjs setup

step "lethe doctor"
lethe doctor

step "lethe run: the CDC reader, one consumer group per sink, and the tracker (in the background, log in $log_dir/lethe.log)"
# A Lethe left running by an earlier demo is replaced; this one keeps running after the demo (for
# the dashboard) until `make down`.
if [ -f "$log_dir/lethe.pid" ]; then kill -TERM "$(cat "$log_dir/lethe.pid")" 2>/dev/null || true; sleep 1; fi
# The request clock (LETHE_CLOCK_FILE, a test hook): no shift until the demo's request below moves
# it past the grace period; the first part runs on the real time.
export LETHE_CLOCK_FILE="$PWD/$log_dir/clock-offset"
echo "+0d" >"$LETHE_CLOCK_FILE"
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

# A privacy request, from the person's email to its proof (README "Privacy requests").
tracker_url=http://127.0.0.1:8720   # lethe.config.yaml: tracker.host and tracker.port (requests.publicUrl too)
requester=$((neighbour + 1))
address="cleo.$requester@example.test"
psql -q -v ON_ERROR_STOP=1 "$DATABASE_URL" <<SQL
INSERT INTO shop.users (id, email, name) VALUES ($requester, '$address', 'Cleo');
INSERT INTO shop.orders (id, user_id, total) SELECT ($requester * 10) + g, $requester, 4.50 * g FROM generate_series(1, 3) g;
INSERT INTO shop.messages (id, sender_id, body) VALUES ($requester * 10 + 1, $requester, 'where is my parcel?');
INSERT INTO shop.invoices (id, user_id, amount) VALUES ($requester * 10 + 1, $requester, 27);
SQL
node demo/stores.mjs seed "$requester"
primary() {
  psql -v ON_ERROR_STOP=1 -P pager=off "$DATABASE_URL" -c "
    SELECT id, CASE WHEN length(email) > 28 THEN left(email, 24) || '…' ELSE email END AS email, name, erased_at IS NOT NULL AS erased,
      (SELECT count(*) FROM shop.orders WHERE user_id = u.id) AS orders, (SELECT count(*) FROM shop.messages WHERE sender_id = u.id) AS messages,
      (SELECT count(*) FROM shop.invoices WHERE user_id = u.id) AS invoices
    FROM shop.users u WHERE id = $requester"
}
review=$(date -u -d '+6 months' +%F)
step "a privacy request: user $requester ($address) has 3 orders, 1 message and 1 invoice, copied into every store; a legal hold keeps their BigQuery copies"
primary
node demo/stores.mjs show "$requester"
lethe hold place --subject "user:$requester" --scope sink:bigquery --basis "tax audit 2026" --review "$review" --by "legal team"

step "the person asks by email to be erased (the public intake answers the same for any address)"
echo "  curl -X POST $tracker_url/public/requests -H 'content-type: application/json' -d '{\"type\":\"erasure\",\"email\":\"$address\"}'"
answer=$(curl -sS --max-time 10 -w '\n%{http_code}' -H 'content-type: application/json' -d "{\"type\":\"erasure\",\"email\":\"$address\"}" "$tracker_url/public/requests")
http_code=${answer##*$'\n'}; answer=${answer%$'\n'*}
echo "  -> $http_code $answer"
[ "$http_code" = 202 ] || { echo "the public intake answered $http_code, not 202" >&2; exit 1; }
request_id=$(node -e 'process.stdout.write(JSON.parse(process.argv[1]).id)' "$answer")

step "the verification mail (Mailpit), its code posted back: the request waits out its 14-day grace period, cancelable until then"
node demo/requests.mjs verify "$request_id" "$address"

step "15 days later on the request clock (LETHE_CLOCK_FILE +15d; the database and the stores keep the real time): the request is executed in the primary"
echo "+15d" >"$LETHE_CLOCK_FILE"
node demo/requests.mjs wait "$request_id" propagating,complete,complete_with_exceptions
step "its erasure (an event naming the request): every sink acknowledges, BigQuery with HELD; support confirms the inbox"
node demo/tracker.mjs wait "user:$requester" partial,held
LETHE_TRACKER_TOKEN="$(json "$log_dir/operator.json" token)" node demo/tracker.mjs confirm "user:$requester" support-inbox "support desk" "no tickets found"
node demo/tracker.mjs wait "user:$requester" held
step "the request follows its erasure (lethe request show $request_id)"
node demo/requests.mjs wait "$request_id" complete,complete_with_exceptions
lethe request show "$request_id"

step "user $requester now: anonymized in shop.users, orders and messages deleted, the invoice kept (tax law); every store clean but BigQuery (the hold)"
primary
node demo/stores.mjs show "$requester"

step "the proof of the request (lethe request report $request_id)"
lethe request report "$request_id"
step "the completion mail, with the proof's summary line"
node demo/requests.mjs completion "$address"

step "the dashboard: $tracker_url (requests, erasures; the status API under /api and Prometheus metrics at /metrics)"
echo "It asks for a token: the reader's is in $log_dir/reader.json (\"token\"); the operator's in $log_dir/operator.json."
echo "The mail the person got: $MAILPIT_URL (Mailpit). Requests: lethe request list; holds: lethe hold list (lethe hold release <id> erases what it kept)."
echo "Lethe keeps running in the background (pid $lethe_pid, log $log_dir/lethe.log, its request clock 15 days ahead); 'make down' stops it with the stack."
echo "After restoring a backup of a store: lethe replay --sink <name> --since <backup time>"
