# Two commands do everything on a fresh machine: `make run` and `make test`.
VENV ?= .venv
export ALERTING_POLICY ?= deploy/policy.example.toml
# The example policy sends escalations here; point it at the county's real endpoint.
export ALERTING_COUNTY_WEBHOOK_URL ?= http://127.0.0.1:8099/county-webhook

# The dependencies come from uv.lock (every version pinned, with hashes); `make lock` refreshes it
# after pyproject.toml changes. uv itself is pinned here and installed into the venv by pip.
UV_VERSION = 0.13.8
UV = $(VENV)/bin/uv
UV_STAMP = $(VENV)/.uv-$(UV_VERSION)
# Offline: the check reads only pyproject.toml and uv.lock.
LOCK_CHECK = $(UV) lock --check --offline || { echo "uv.lock 与 pyproject.toml 不一致：请运行 make lock 并提交 uv.lock / uv.lock disagrees with pyproject.toml: run make lock and commit uv.lock" >&2; exit 1; }

.PHONY: run test lint venv lock lock-check dist kafka-start kafka-stop postgres-start postgres-stop clean

# The venv with uv in it: enough to check or refresh the lock.
$(UV_STAMP):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q uv==$(UV_VERSION)
	touch $@

$(VENV)/.installed: pyproject.toml uv.lock $(UV_STAMP)
	$(LOCK_CHECK)
	$(UV) export --frozen --quiet --extra dev --no-emit-project --format requirements-txt -o $(VENV)/requirements.lock.txt
	$(VENV)/bin/pip install -q --require-hashes --no-deps -r $(VENV)/requirements.lock.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# Fails when uv.lock no longer matches pyproject.toml (a dependency added, a bound changed): run
# `make lock` and commit both.
lock-check: $(UV_STAMP)
	$(LOCK_CHECK)

# `make lock` after editing pyproject.toml (keeps the other pins); `make lock UPGRADE=1` takes the newest
# versions pyproject allows. Commit uv.lock with the change.
lock: $(UV_STAMP)
	$(UV) lock $(if $(UPGRADE),--upgrade)

# The offline bundle for plain servers (wheelhouse, .deb, .rpm, tarball) in dist/.
dist: venv
	deploy/dist/build.sh

run: venv
	deploy/local/run.sh

test: venv
	deploy/local/postgres.sh start
	deploy/local/chromium.sh
	$(LOCK_CHECK)
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
	rm -rf $(VENV) var dist .pytest_cache .mypy_cache .ruff_cache
