# Two commands on a fresh machine: `make dev` runs the suite, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
USER ?= t1
ROLE ?= teacher

.PHONY: envoy-config dev test lint typecheck pytest browser gen token install bench bench-scale backup-user restore-user clean-data

# The virtual environment, from pinned versions (requirements.lock), rebuilt when the pins change.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip >/dev/null
	@$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	@$(PY) -m devstack up

token: $(STAMP)
	@$(PY) -m devstack token --user "$(USER)" --role "$(ROLE)"

gen: $(STAMP)
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) tools/generate_protos.py

# The compose target of the Envoy config is committed; a test fails when it is stale.
envoy-config: $(STAMP)
	@$(PY) envoy/render.py --target compose > envoy/envoy.compose.yaml

lint: $(STAMP)
	@$(VENV)/bin/buf lint
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/lint-imports --no-cache --no-logo

typecheck: $(STAMP)
	@$(VENV)/bin/mypy common content_svc user_svc ingest_svc reflection_svc ta_cli devstack tools bench examples envoy/render.py

pytest: $(STAMP) browser
	@$(VENV)/bin/pytest $(PYTEST_ARGS)

# Headless Chromium for the browser tests: Debian's package (CI runs as root and installs it here).
browser:
	@command -v chromium >/dev/null || { \
	  test "$$(id -u)" = 0 || { echo "the browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; }; \
	  echo "installing chromium (apt-get) for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: lint typecheck pytest

# The bench extra (Chroma, tantivy, rank-bm25: ~450 MB) only for benchmarks, not for every test run.
BENCH_STAMP := $(VENV)/.bench-stamp
$(BENCH_STAMP): $(STAMP)
	@$(PY) -m pip install --quiet -c requirements.lock -e ".[dev,bench]"
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@$(PY) -m bench

# The library at 1M atoms (1,000 books): load time, index build, memory, search p50. Not in make test.
bench-scale: $(BENCH_STAMP)
	@$(PY) -m bench --scale

# db_user backups with the embedded Postgres' own pg_dump/pg_restore (docs/user_service.md).
# The settings' defaults are `make dev`'s cluster; set POSTGRES_USER_* (and PG_BIN_DIR) for another one.
EMBEDDED_PG_BIN = $$($(PY) -c 'from devstack.postgres import bin_path; print(bin_path(""))')
backup-user: $(STAMP)
	@test -n "$(FILE)" || { echo "usage: make backup-user FILE=path/to/db_user.dump"; exit 2; }
	@PG_BIN_DIR=$${PG_BIN_DIR:-$(EMBEDDED_PG_BIN)} $(PY) -m user_svc.backup dump --out "$(FILE)"

restore-user: $(STAMP)
	@test -n "$(FILE)" || { echo "usage: make restore-user FILE=path/to/db_user.dump"; exit 2; }
	@PG_BIN_DIR=$${PG_BIN_DIR:-$(EMBEDDED_PG_BIN)} $(PY) -m user_svc.backup restore --file "$(FILE)"

clean-data:
	rm -rf .devdata
