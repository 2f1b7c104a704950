# Two commands for a fresh clone: `make migrate` and `make test`. Both install what they need
# into the project-local virtual environment first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: migrate test lint format bench clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Apply every pending migration (or one service and what it needs: SERVICE=crm), then show status.
migrate: $(STAMP)
	$(BIN)/migrate up $(if $(SERVICE),--service $(SERVICE))
	$(BIN)/migrate status

## The test suite, against the embedded server (or TEST_DATABASE_URL when set).
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Benchmarks: ratios against baselines measured in the same run (bench/README.md). The peer
## tool dbmate comes from npm into the git-ignored bench/.peers/; without npm its side is skipped.
bench: $(STAMP)
	@test -x bench/.peers/node_modules/.bin/dbmate \
		|| npm install --prefix bench/.peers --no-audit --no-fund dbmate@2.36.0 \
		|| echo "dbmate could not be installed from npm: bench_history skips its side"
	$(BIN)/python bench/bench_history.py
	$(BIN)/python bench/bench_reset.py
	$(BIN)/python bench/bench_backfill.py
	$(BIN)/python bench/bench_lock_wait.py
	$(BIN)/python bench/bench_impact.py
	$(BIN)/python bench/bench_fleet.py

clean-venv:
	rm -rf $(VENV)
