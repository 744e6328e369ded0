# Two commands on a fresh machine (Python 3.11+ and make): `make demo` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
# The suite picks its PostgreSQL itself (tests/database_choice.py): this URL when set (empty: an
# embedded server), else the server at 127.0.0.1:5432 when one answers, else an embedded one.
ifneq ($(origin ADINSIGHTS_TEST_DATABASE_URL),undefined)
export ADINSIGHTS_TEST_DATABASE_URL
endif
# Two workers (this machine's cores) sharing the one server; a test file stays on one worker
# (its module fixtures).
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: install demo test lint unit bench mutation clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## Run the product: embedded PostgreSQL (unless ADINSIGHTS_DATABASE_URL is set), the Meta
## simulator, Dagster webserver + daemon and the API, with demo tenants materialized once.
demo: install
	$(BIN)/adinsights demo

## The whole suite: lint, types, then tests against real PostgreSQL, dbt and Dagster.
test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy adinsights_pipelines api benchmarks

## Every benchmark script; each prints its figures, the last line as name=value pairs.
bench: install
	@set -e; for script in benchmarks/[!_]*.py; do echo "== $$script"; $(BIN)/python $$script; done

## Mutation testing of the modules that carry contract policy (tests/mutation/modules.toml), each
## with its own tests; one line per module, last `mutation_score_min=<x> mutation_score_mean=<x>`.
## Not part of `make test` or CI: run it before closing an issue that touches those modules.
mutation: install
	$(BIN)/python scripts/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf $(VENV) .adinsights dbt_project/target dbt_project/logs
