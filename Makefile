VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
FEDERATION := tests/federation
# The real-client tests: their Node project, and a browser for GraphiQL.
CLIENTS := tests/clients
CHROMIUM := /usr/bin/chromium
# The benchmark's peer, PostGraphile: its Node project (with its own Node 22).
BENCH_PEER := bench/postgraphile

.PHONY: run test lint schema bench bench-quick bench-writes clean federation-deps clients-deps \
	bench-peer-deps wrk-deps

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/order-graph migrate
	$(BIN)/order-graph seed-demo --if-empty --orders 200
	ORDER_GRAPH_AUTH=off $(BIN)/order-graph serve

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench examples
	$(BIN)/ruff format --check src tests bench examples
	$(BIN)/mypy

test: lint federation-deps clients-deps
	$(BIN)/pytest

# The federation tests' Node project: `npm ci` only when node_modules was not installed from
# this very lock file (compared by content, not by timestamps).
federation-deps:
	@cmp -s $(FEDERATION)/package-lock.json $(FEDERATION)/node_modules/.installed-lock || \
		(cd $(FEDERATION) && npm ci --no-audit --no-fund --loglevel=error && \
		cp package-lock.json node_modules/.installed-lock)

# The client tests' Node project, the same way; and Debian's chromium, only when missing (CI
# runs as root; elsewhere through sudo).
clients-deps: $(CHROMIUM)
	@cmp -s $(CLIENTS)/package-lock.json $(CLIENTS)/node_modules/.installed-lock || \
		(cd $(CLIENTS) && npm ci --prefer-offline --no-audit --no-fund --loglevel=error && \
		cp package-lock.json node_modules/.installed-lock)

$(CHROMIUM):
	$$([ "$$(id -u)" = 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$$([ "$$(id -u)" = 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium

schema: $(RUN_STAMP)
	$(BIN)/order-graph export-schema > schema.graphql
	$(BIN)/order-graph export-schema --federation > subgraph.graphql

# The benchmark (docs/bench.md): order-graph, the ceiling and PostGraphile side by side.
bench: $(TEST_STAMP) bench-peer-deps wrk-deps
	$(PY) bench/run.py
	$(PY) bench/subscriptions.py
	$(PY) bench/relay.py

bench-quick: $(TEST_STAMP) bench-peer-deps wrk-deps
	$(PY) bench/run.py --quick
	$(PY) bench/subscriptions.py --quick

# The event log's cost to writers (docs/scaling.md): PostgreSQL, a database of its own.
bench-writes: $(TEST_STAMP)
	$(PY) bench/writes.py

# PostGraphile's Node project, like clients-deps: `npm ci` only when the lock changed.
bench-peer-deps:
	@cmp -s $(BENCH_PEER)/package-lock.json $(BENCH_PEER)/node_modules/.installed-lock || \
		(cd $(BENCH_PEER) && npm ci --prefer-offline --no-audit --no-fund --loglevel=error && \
		cp package-lock.json node_modules/.installed-lock)

# wrk, only when missing: apt-get as root or through sudo; elsewhere one line saying how.
wrk-deps:
	@command -v wrk >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
		else echo "wrk is missing: install it (apt-get install wrk, or brew install wrk)" >&2; \
		exit 2; fi; \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			wrk; }

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(FEDERATION)/node_modules \
		$(CLIENTS)/node_modules $(CLIENTS)/output $(BENCH_PEER)/node_modules
