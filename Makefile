VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# The real-client tests (tests/clients): their npm packages, and a browser for GraphiQL.
NODE_STAMP := tests/clients/node_modules/.package-lock.json
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint clients schema bench bench-quick clean

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

# npm ci only when the lock file is newer than the last install.
$(NODE_STAMP): tests/clients/package-lock.json
	cd tests/clients && npm ci --prefer-offline --no-audit --no-fund --loglevel=error
	touch $@

# Debian's chromium, only when missing (CI runs as root; elsewhere through sudo).
$(CHROMIUM):
	$$([ "$$(id -u)" = 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$$([ "$$(id -u)" = 0 ] || echo sudo) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium

clients: $(NODE_STAMP) $(CHROMIUM)

test: lint clients
	$(BIN)/pytest

schema: $(RUN_STAMP)
	$(BIN)/order-graph export-schema > schema.graphql

bench: $(TEST_STAMP)
	$(PY) bench/run.py
	$(PY) bench/subscriptions.py --count 1000

bench-quick: $(TEST_STAMP)
	$(PY) bench/run.py --quick
	$(PY) bench/subscriptions.py --count 200

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache tests/clients/node_modules tests/clients/output
