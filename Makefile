# Two entry points: `make run` (the main job) and `make test` (lint, types, the whole suite).
# Both create .venv when it is missing and install what they need; both are safe to repeat.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

# The main job: a short sync of current data (mempool blocks, Bitstamp closes; at most about
# 20 s, skipped with OFFLINE=1 and never fatal), the latest hashprice fixings in the terminal,
# then the service (dashboard and HTTP API) on the embedded SQLite store, the synced and the
# bundled data. HOST/PORT override the address.
HOST ?= 127.0.0.1
PORT ?= 8000
OFFLINE ?=
run: $(VENV)/.installed-run
	@if [ -n "$(OFFLINE)" ]; then \
		echo "OFFLINE=1: no sync; going on with the data already stored and the bundled data."; \
	elif ! err=$$($(BIN)/hashmarket data sync --quick 2>&1 1>&3); then \
		reason=$$(printf '%s\n' "$$err" | tail -n 1 | sed 's/^hashmarket: error: //'); \
		echo "Sync skipped ($$reason); going on with the data already stored and the bundled data."; \
	fi 3>&1
	$(BIN)/hashmarket index hashprice --last 30
	$(BIN)/hashmarket serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	bash scripts/ensure_chromium.sh
	bash scripts/with_postgres.sh $(BIN)/pytest

# QuantLib is installed for the benchmarks only (the `bench` extra); no test depends on it.
$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
