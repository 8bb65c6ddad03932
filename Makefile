# Two commands do all the set-up on a fresh machine:
#   make demo   install, ingest the bundled sample, print a search, serve the web UI
#   make test   install (with dev tools and Debian's chromium), lint, type-check, test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOME_DIR ?= $(CURDIR)/.newsdesk-demo
PORT ?= 8000

.PHONY: install dev demo test lint typecheck pytest browser bench clean opensearch opensearch-stop

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

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

# A local OpenSearch node (k-NN, neural-search) on 127.0.0.1 for the OpenSearch backend's
# tests and benchmarks: downloads what is missing from Maven Central into
# ~/.cache/newsdesk/opensearch, starts in the background, prints its URL last.
opensearch:
	@scripts/opensearch.sh start

opensearch-stop:
	@scripts/opensearch.sh stop

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache "$(HOME_DIR)"
