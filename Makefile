# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
# Use a uv already on the PATH, else install one into .tools/ (needs only python3 and PyPI).
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run serve test test-fast lint format install admin-password demo bench browser screenshots

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	touch $@

install: $(VENV)/.installed

# Local server: migrate, make the demo agent and admin user, serve with daphne.
run: export DJANGO_DEBUG ?= 1
run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py setup_demo --base-url http://$(HOST):$(PORT)
	HOST=$(HOST) PORT=$(PORT) scripts/serve.sh

# The production shape in the foreground: WORKERS daphne processes (default: one per core)
# sharing HOST:PORT; more than one needs DATABASE_URL (PostgreSQL) and REDIS_URL.
serve: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	HOST=$(HOST) PORT=$(PORT) $(PY) -m voiceproject.serve

# One simulated call end to end (server + fake Realtime), no network needed.
demo: install
	scripts/demo.sh

# Resampler table and call figures, written to docs/benchmarks.md.
bench: install
	$(PY) -m bench

# Debian's Chromium, which the browser test drives with Playwright.
browser:
	@scripts/install_chromium.sh

# The pictures in the README and docs/operators.md, taken again by the two browser tests that
# walk those pages (the suite itself keeps its screenshots in a temporary folder).
screenshots: install browser
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(PY) scripts/pytest_strict.py \
		tests/server/test_browser.py tests/server/test_talk_browser.py tests/server/test_agent_page_browser.py -k "operator_edits or operator_talks or manager_edits"

# The whole suite on the embedded defaults (SQLite, in-memory channel layer), then
# again on PostgreSQL and Redis when they answer (CI starts them).
test: install browser
	@$(PY) scripts/pytest_strict.py
	@if $(PY) scripts/services_up.py; then \
		echo "== again on PostgreSQL and Redis =="; \
		DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
		REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/0} \
		$(PY) scripts/pytest_strict.py; \
	else \
		echo "PostgreSQL or Redis not reachable: the suite ran on SQLite only"; \
	fi

# The fast lane: the pure tests (tests/unit) and the app tests (tests/app), everything but the
# whole servers, browsers and other processes of tests/server; on the embedded defaults.
# Leaves the tree as it found it (no bytecode, no pytest cache).
test-fast: install
	@PYTHONDONTWRITEBYTECODE=1 $(PY) scripts/pytest_strict.py -p no:cacheprovider tests/unit tests/app

# Style, the layers of docs/architecture.md (import-linter; contracts in pyproject.toml), then
# types (mypy: strict on the audio core, the ground floor and the development tools).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

admin-password: install
	$(PY) manage.py setup_demo --reset-password
