# Hubx Access: `make run` and `make test` do all the set-up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
export FLASK_APP := wsgi.py

.PHONY: run test test-sqlite test-postgres e2e lint bench install install-test translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP) $@

install: $(STAMP) translations
install-test: $(TEST_STAMP) translations

translations: | $(BIN)/python
	@$(BIN)/pybabel compile -d app/translations >/dev/null

# Each `flask` command builds the app, and an app on development keys says so in a banner: the set-up steps'
# copies are dropped (the banner's block, between its two rows of "!"), so it is printed once, by the server.
WITHOUT_KEYS_BANNER := sed -u '/^!\{72\}$$/,/^!\{72\}$$/d'

run: install
	@set -o pipefail; $(BIN)/flask db upgrade 2>&1 | $(WITHOUT_KEYS_BANNER)
	@set -o pipefail; $(BIN)/flask demo seed 2>&1 | $(WITHOUT_KEYS_BANNER)
	@echo
	@echo "  Hubx Access on http://127.0.0.1:$(PORT)/"
	@echo "  demo sign-in, owner of Demo (admin of Acme): admin@demo.example.com / hubx-demo-password"
	@echo "  demo sign-in, plain member of Demo:          member@demo.example.com / hubx-demo-password"
	@echo "  email (no SMTP configured) lands in the development outbox: http://127.0.0.1:$(PORT)/dev/outbox"
	@echo
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

# The whole suite on SQLite (with coverage and the browser journeys), then again on PostgreSQL
# when TEST_DATABASE_URL is set.
test: install-test lint
	$(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "== again on PostgreSQL =="; \
	  $(BIN)/python -m pytest --db=postgres -m "not e2e" -p no:cacheprovider $(PYTEST_ARGS); \
	else echo "TEST_DATABASE_URL not set: PostgreSQL leg skipped"; fi

e2e: install-test
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

# Style (ruff) and the import contracts of pyproject.toml (import-linter: the layers, each domain's private
# modules, jobs never importing pages); `make test` runs this first.
lint: install-test
	$(BIN)/ruff check app jobs tests bench
	$(BIN)/lint-imports --no-cache

bench: install-test
	@echo "see bench/README.md"

clean:
	rm -rf $(VENV) .pytest_cache .coverage htmlcov
