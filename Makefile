# The README's commands. `make run` and `make test` need nothing but Python 3.11.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The local PostgreSQL this machine runs (trust auth); pytest-django creates and drops test_<name>.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/property_platform
HOST ?= 127.0.0.1:8000

.PHONY: run serve test test-sqlite test-postgres test-browser lint bench bench-load migrate superuser clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@ $(VENV)/.runtime

migrate: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput

run: migrate
	@$(PY) manage.py ensure_superuser
	@$(PY) manage.py seed_demo --if-empty
	@echo "Admin: http://$(HOST)/admin/"
	@# config/launcher.py runs both and stops them on Ctrl-C or SIGTERM, exiting 0.
	@$(PY) -m config.launcher $(HOST)

# Production-like: gunicorn (static files by whitenoise) and a task cluster, DEBUG off unless the
# environment says otherwise. `SECURE_SSL_REDIRECT=false` serves plain HTTP for a local try.
serve: $(VENV)/.runtime
	@HOST=$(HOST) DEBUG=$${DEBUG:-false} $(PY) -m config.serve

test: $(VENV)/.dev
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: $(VENV)/.dev
	@echo "=== Test suite on SQLite ==="
	DATABASE_URL=sqlite:///$(CURDIR)/var/test.sqlite3 $(VENV)/bin/pytest -q $(PYTEST_ARGS)

test-postgres: $(VENV)/.dev
	@# The server, not the named database: pytest-django creates test_<name> through the
	@# maintenance database, so a fresh server without <name> is fine.
	@if $(PY) -c "import psycopg,sys; psycopg.connect(sys.argv[1].replace('postgres://','postgresql://',1), dbname='postgres', connect_timeout=3).close()" "$(TEST_DATABASE_URL)" 2>/dev/null; then \
		echo "=== Test suite on PostgreSQL ($(TEST_DATABASE_URL)) ==="; \
		DATABASE_URL=$(TEST_DATABASE_URL) $(VENV)/bin/pytest -q $(PYTEST_ARGS); \
	elif [ "$(REQUIRE_POSTGRES)" = "1" ]; then \
		echo "!!! PostgreSQL at $(TEST_DATABASE_URL) (its server) is not reachable and REQUIRE_POSTGRES=1: failing."; exit 1; \
	else \
		echo; echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
		echo "!!! PostgreSQL SKIPPED: $(TEST_DATABASE_URL) is not reachable."; \
		echo "!!! Only SQLite was tested. Set TEST_DATABASE_URL, or REQUIRE_POSTGRES=1 to fail."; \
		echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"; \
	fi

# The browser flows alone (they also run in test-postgres). BROWSER_SCREENSHOTS=docs/screenshots
# saves the pages the README's tour shows.
test-browser: $(VENV)/.dev
	DATABASE_URL=$(TEST_DATABASE_URL) $(VENV)/bin/pytest -q tests/browser $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Each bench works in a scratch PostgreSQL database of its own (property_bench*, integrity_bench,
# ...) on the local server and prints its figures; the README's Performance section quotes them.
# Full-size runs take several minutes each; BENCH_ROWS scales the runs that take a row count.
BENCH_ROWS ?= 1000000
bench: $(VENV)/.dev
	$(PY) bench/bench_changelist.py $(BENCH_ROWS)
	$(PY) bench/bench_imports_large.py $(BENCH_ROWS) 2000
	$(PY) bench/bench_backups.py $(BENCH_ROWS)
	$(PY) bench/bench_backups_recovery.py $(BENCH_ROWS)
	$(PY) bench/bench_integrity.py --properties $(BENCH_ROWS)
	$(PY) bench/bench_sources.py $(BENCH_ROWS)
	$(MAKE) --no-print-directory bench-load

# 20 managers on gunicorn against BENCH_ROWS properties while an import and a backup of other
# organisations run; loopback only, stops when both have finished (LOAD_* in bench/bench_load.py).
bench-load: $(VENV)/.dev
	$(PY) bench/bench_load.py $(BENCH_ROWS)

clean:
	rm -rf $(VENV) var/test.sqlite3
