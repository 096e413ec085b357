# The README's two promises: `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
GATEWAY_DATA_DIR ?= ./var
export GATEWAY_DATA_DIR

.PHONY: install run test lint typecheck postgres pytest bench reliability certs clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

certs: install
	$(PY) certs-dev/generate.py

# Serves http://127.0.0.1:8000 with demo data on SQLite; GATEWAY_TLS=1 serves
# HTTPS with the development certificates of certs-dev/.
run: install
	$(VENV)/bin/gateway demo
	@if [ "$$GATEWAY_TLS" = "1" ]; then $(MAKE) --no-print-directory certs; fi
	$(VENV)/bin/gateway serve

postgres:
	@bash .ci/ensure-postgres

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy gateway adapters certs-dev/generate.py bench

pytest: install postgres
	$(PY) -m pytest -q

test: lint typecheck pytest
	$(VENV)/bin/gateway policies test

bench: install
	$(PY) bench/policy_bench.py
	$(PY) bench/audit_bench.py

reliability: install postgres
	$(PY) -m pytest -q -m slow --run-slow

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
