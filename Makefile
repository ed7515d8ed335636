# Two commands set everything up on a fresh machine: `make run` and `make test`.
# Both create the virtual environment themselves; the Kafka jars are fetched on first use
# into a cache outside the repository (~/.cache/hosting-accounts).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv run passwords test test-unit lint format bench replay jars clean-state

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## Start PostgreSQL, Kafka, the SMTP sink, all four services and the gateway; Ctrl-C stops them.
run: venv
	$(PY) -m shared.infra.run

## New passwords for the development seed's logins (customer 100001, demo-support, ...) of the
## running `make run`; printed here only.
passwords: venv
	$(PY) -m shared.infra.run passwords

## The whole test suite against real PostgreSQL and Kafka (started by the fixtures).
test: venv jars
	$(PY) -m pytest -q

test-unit: venv
	$(PY) -m pytest -q tests/unit

lint: venv
	$(VENV)/bin/ruff check shared services tests bench
	$(VENV)/bin/ruff format --check shared services tests bench
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format shared services tests bench
	$(VENV)/bin/ruff check --fix shared services tests bench

## Benchmarks on the running machine; prints figures (see docs/benchmarks.md).
bench: venv jars
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m bench

## Replay every event topic of the running system from offset 0 into the audit model (compliance):
## events per type, duplicates, malformed records, the state hash. Kafka: KAFKA_BOOTSTRAP_SERVERS,
## else make run's 127.0.0.1:19092. The other audit commands: `$(PY) -m shared.audit --help`.
replay: venv
	$(PY) -m shared.audit replay

## Resolve the Kafka broker's jars from Maven Central into the cache (once).
jars: venv
	$(PY) -m shared.infra.kafka fetch-jars

clean-state:
	rm -rf .state
