# Two commands do all the set-up on a fresh machine:
#   make demo   install, ingest the bundled sample, print a search, serve the web UI
#   make test   install (with dev tools and Debian's chromium), lint, type-check, test
#
# Installs are reproducible: every package comes pinned, with its hashes, from
# requirements/lock.txt (dev-lock.txt for the dev tools), made by `make lock` with a
# pinned uv; then newsdesk itself is installed without resolving anything.
# `make upgrade-check` tries the newest versions in a throw-away venv and reports.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOME_DIR ?= $(CURDIR)/.newsdesk-demo
PORT ?= 8000
UV_VERSION := 0.13.8
TOOLS := $(VENV)-tools
UV := $(TOOLS)/bin/uv
COMPILE = $(UV) pip compile pyproject.toml --generate-hashes --universal --python-version 3.11
UPGRADE_DIR ?= /tmp/newsdesk-upgrade-check

.PHONY: install dev demo test lint typecheck pytest browser lock upgrade-check clean postgres postgres-stop opensearch opensearch-stop

# The machine's pip may be old: pip < 23.3 looks an extra (lxml[html_clean]) up on the
# index instead of using the lock's pin, and fails hash checking once a newer release
# appears. Every venv gets this pinned pip first.
PIP_VERSION := 25.3

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==$(PIP_VERSION)

$(VENV)/.installed: $(BIN)/python requirements/lock.txt pyproject.toml
	$(BIN)/python -m pip install --quiet -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev-installed: $(BIN)/python requirements/dev-lock.txt pyproject.toml
	$(BIN)/python -m pip install --quiet -r requirements/dev-lock.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

# The demo's home is .newsdesk-demo/ here; the README's tour uses the same one.
demo: install
	$(BIN)/newsdesk --home "$(HOME_DIR)" demo --port $(PORT)

# Browser tests drive Debian's chromium (never a downloaded browser); a CJK font makes
# the screenshots readable.
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; } || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	  else \
	    echo "browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; \
	  fi; }

lint: dev
	$(BIN)/ruff check src tests $(wildcard bench)

typecheck: dev
	$(BIN)/mypy

pytest: dev browser
	$(BIN)/pytest

test: lint typecheck pytest

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet uv==$(UV_VERSION)

# Resolve pyproject.toml's dependencies again (after changing them) into the locks.
# The PostgreSQL and OpenSearch clients (extras `postgres`, `opensearch`) are in both
# locks, so an installation switches store or index by configuration alone.
lock: $(UV)
	$(COMPILE) --extra postgres --extra opensearch -o requirements/lock.txt
	$(COMPILE) --extra dev --extra postgres --extra opensearch -o requirements/dev-lock.txt

# The newest versions allowed by pyproject.toml, in a throw-away venv: which pins would
# move, and whether the tests pass with them. Nothing in the repository changes.
upgrade-check: $(UV) browser
	rm -rf "$(UPGRADE_DIR)" && mkdir -p "$(UPGRADE_DIR)"
	$(COMPILE) --extra dev --upgrade --quiet -o "$(UPGRADE_DIR)/newest.txt"
	$(PYTHON) -m venv "$(UPGRADE_DIR)/venv"
	"$(UPGRADE_DIR)/venv/bin/python" -m pip install --quiet -r "$(UPGRADE_DIR)/newest.txt"
	"$(UPGRADE_DIR)/venv/bin/python" -m pip install --quiet --no-deps -e .
	$(PYTHON) requirements/diff_locks.py requirements/dev-lock.txt "$(UPGRADE_DIR)/newest.txt"
	@if "$(UPGRADE_DIR)/venv/bin/python" -m pytest -q -p no:cacheprovider > "$(UPGRADE_DIR)/pytest.log" 2>&1; \
	then echo "upgrade-check: the tests pass with the newest versions ($(UPGRADE_DIR)/pytest.log)"; \
	else tail -n 20 "$(UPGRADE_DIR)/pytest.log"; \
	  echo "upgrade-check: the tests FAIL with the newest versions ($(UPGRADE_DIR)/pytest.log)"; exit 1; fi

# A PostgreSQL server on 127.0.0.1 for the PostgreSQL store's tests and benchmarks:
# installs Debian's postgresql if missing (as root), runs a cluster owned by a non-root
# user in /tmp/newsdesk-postgres/ (outside the repo), prints its URL last. Idempotent.
postgres:
	@scripts/postgres.sh start

postgres-stop:
	@scripts/postgres.sh stop

# A local OpenSearch node (k-NN, neural-search) on 127.0.0.1 for the OpenSearch backend's
# tests and benchmarks: downloads what is missing from Maven Central into
# ~/.cache/newsdesk/opensearch, starts in the background, prints its URL last.
opensearch:
	@scripts/opensearch.sh start

opensearch-stop:
	@scripts/opensearch.sh stop

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .mypy_cache .ruff_cache "$(HOME_DIR)"
