# Two commands do everything on a fresh machine: `make run` and `make test`.
VENV ?= .venv
export ALERTING_POLICY ?= deploy/policy.example.toml
# The example policy sends escalations here; point it at the county's real endpoint.
export ALERTING_COUNTY_WEBHOOK_URL ?= http://127.0.0.1:8099/county-webhook

.PHONY: run test lint venv kafka-start kafka-stop postgres-start postgres-stop clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

run: venv
	deploy/local/run.sh

test: venv
	deploy/local/postgres.sh start
	deploy/local/chromium.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest -q

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

kafka-start:
	deploy/local/kafka.sh start
kafka-stop:
	deploy/local/kafka.sh stop
postgres-start:
	deploy/local/postgres.sh start
postgres-stop:
	deploy/local/postgres.sh stop

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
