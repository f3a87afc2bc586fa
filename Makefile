# Two commands: `make run` starts the whole system, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@# Bytecode up front: the workflow sandbox imports workflow modules afresh for every new order.
	$(BIN)/python -m compileall -q domain workflows activities store api config.py worker.py devstack.py
	touch $(STAMP)

## make run: Temporal dev server + worker + API on the embedded SQLite default (Ctrl-C stops all)
run: $(STAMP)
	$(BIN)/orderflow-dev

## make test: lint, types and the whole test suite (needs PostgreSQL on 127.0.0.1:5432)
test: $(STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## make bench: own dev stack; floor vs orderflow, printed and written to bench/results/ (ARGS="--postgres")
bench: $(STAMP)
	$(BIN)/python -m bench $(ARGS)

## make unit: the fast tests only (no servers)
unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
