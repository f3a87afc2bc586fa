# Two commands: `make run` starts the whole system, `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint unit bench bench-foresight rehearse clean bytecode browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Bytecode up to date before anything runs: the workflow sandbox imports the workflow modules afresh for
# every new order, and with PYTHONDONTWRITEBYTECODE set (as on this machine) a stale .pyc means compiling
# from source each time (docs/performance.md). Recompiles only what changed.
bytecode: $(STAMP)
	@$(BIN)/python -m compileall -q domain workflows activities gateway store rules api config.py egress.py worker.py devstack.py telemetry.py

## make run: Temporal dev server + worker + API on the embedded SQLite default (Ctrl-C stops all)
run: bytecode
	$(BIN)/orderflow-dev

## make test: lint, types and the whole test suite (needs PostgreSQL on 127.0.0.1:5432)
test: bytecode lint browser
	$(BIN)/pytest

# The console's browser tests drive Debian's chromium (Playwright's own browser downloads are not used).
browser:
	@command -v chromium >/dev/null && dpkg -s fonts-noto-cjk >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## make bench: own dev stack; floor vs orderflow, printed and written to bench/results/ (ARGS="--postgres")
bench: bytecode
	$(BIN)/python -m bench $(ARGS)

## make bench-foresight: one forecasting run over 10,000 SKUs x 3 warehouses x 180 days (ARGS="--postgres")
bench-foresight: bytecode
	$(BIN)/python -m bench.foresight $(ARGS)

## make rehearse: a whole business day with faults, compressed, scored and checked (ARGS="--postgres --seed 3")
rehearse: bytecode
	$(BIN)/python -m rehearsal $(ARGS)

## make unit: the fast tests only (no servers)
unit: $(STAMP)
	$(BIN)/pytest tests/unit

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
