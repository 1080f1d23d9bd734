# `make run` starts the system on embedded defaults; `make test` runs every check.
# Both create .venv and (re)install the pinned requirements when they change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run advance-clock test lint typecheck pytest bench chaos clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11+ is required") if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python scripts/run_system.py

# Move the running demo's clock forward (DAYS=7 by default), for Stripe and the app alike.
advance-clock: $(STAMP)
	$(BIN)/python scripts/advance_clock.py --days $(or $(DAYS),7)

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The everyday tier (unit and integration), then the browser tests and the chaos run.
pytest: $(STAMP)
	$(BIN)/pytest
	$(BIN)/pytest -m "browser or chaos"

bench: $(STAMP)
	$(BIN)/python -m bench.sandbox_invoices
	$(BIN)/python -m bench.sqlite_reader_vs_webhooks --before
	$(BIN)/python -m bench.webhooks --database sqlite
	$(BIN)/python -m bench.webhooks --database postgresql
	$(BIN)/python -m bench.exports --page
	$(BIN)/python -m bench.read_path
	$(BIN)/python -m bench.dashboard_pages

# The chaos run (tests/integration/chaos) at a larger size than `make test` runs it:
# CHAOS_JOBS jobs (400 unless set) on SQLite and on PostgreSQL (TEST_DATABASE_URL, the
# machine's server unless set); each run's figures follow the summary.
chaos: $(STAMP)
	CHAOS_JOBS=$(or $(CHAOS_JOBS),400) \
	TEST_DATABASE_URL=$(or $(TEST_DATABASE_URL),postgresql+psycopg://postgres@127.0.0.1:5432/test) \
	$(BIN)/pytest tests/integration/chaos -m chaos -n 0 -q

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
