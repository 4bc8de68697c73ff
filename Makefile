# The verbs a Lethe user types. See README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STACK := stack/stack.sh
ENV_FILE := .stack/env
# Every recipe that talks to the services reads the endpoints `make up` wrote.
WITH_ENV := set -a && source $(ENV_FILE) && set +a &&

.PHONY: help up down status test test-unit demo bench chaos build clean

help:
	@echo "make up       install what is missing, start the local stack, wait until every service answers"
	@echo "make down     stop what make up started"
	@echo "make status   show each service of the stack"
	@echo "make test     start the stack if needed, then run unit, integration and end-to-end tests"
	@echo "make demo     start the stack and run Lethe end to end"
	@echo "make bench    one table: the reader, each sink, end to end, latency and memory, each beside a reference doing the same work (~15 min)"
	@echo "make chaos    1000 erasures through SIGKILLs of lethe run and outages of every service; checks every store"
	@echo "make clean    stop the stack and delete its data (.stack/)"

node_modules/.package-lock.json: package.json package-lock.json
	@command -v node >/dev/null || { echo "Node.js 20.19 or newer is needed (https://nodejs.org)"; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

dist/.built: node_modules/.package-lock.json tsconfig.json tsconfig.build.json $(shell find src consumers connectors schemas -name '*.ts' 2>/dev/null)
	npm run --silent build
	@touch $@

build: dist/.built

up: node_modules/.package-lock.json
	@$(STACK) up

down:
	@$(STACK) down

status:
	@$(STACK) status

# The fault tests and the short chaos run are the vitest project `faults`, which vitest starts
# after every other project (vitest.config.ts): they stop and start the stack's services.
test: up build
	@$(STACK) browser
	npm run --silent typecheck
	npm run --silent gen:schemas -- --check
	node scripts/check-built-imports.mjs
	@mkdir -p test-artifacts
	$(WITH_ENV) npx vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest-results.json; \
	  status=$$?; node scripts/test-summary.mjs; exit $$status

test-unit: node_modules/.package-lock.json
	npx vitest run --project unit

demo: up build
	@echo
	@echo "== every service answering through Lethe's own clients (lethe ping)"
	$(WITH_ENV) node bin/lethe.js ping
	@demo/run.sh

# Sizes by BENCH_* variables (src/bench/bench.ts); writes bench-results/latest.json and latency-latest.png.
bench: up build
	$(WITH_ENV) node dist/src/bench/bench.js

# Options: make chaos CHAOS_ARGS="--seed 123 --subjects 2000 --faults kill=6,redis=2" (see src/chaos/chaos-options.ts).
chaos: up build
	$(WITH_ENV) node dist/src/chaos/chaos-run.js $(CHAOS_ARGS)

clean: down
	rm -rf .stack dist
