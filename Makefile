# The README's two promises: `make run` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
GATEWAY_DATA_DIR ?= ./var
export GATEWAY_DATA_DIR

.PHONY: install run test lint typecheck postgres browser pytest bench reliability certs messages clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The pages' styles (KERN UX) and the accessibility checker of the browser tests come from npm.
NPM_STAMP := node_modules/.package-lock.json
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

install: $(STAMP) $(NPM_STAMP)

browser:
	@bash .ci/ensure-chromium

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

pytest: install postgres browser
	$(PY) -m pytest -q

test: lint typecheck pytest
	$(VENV)/bin/gateway policies test

# Page texts: re-extract gateway/web/locales/messages.pot from the sources and merge it
# into every catalogue there; new msgids arrive untranslated, translate them in the .po.
messages: install
	$(VENV)/bin/pybabel extract -F gateway/web/babel.cfg -k N_ -c TRANSLATORS: \
		--add-location=file --sort-output --project=consent-gateway \
		--version=$$($(PY) -c 'import importlib.metadata as m; print(m.version("consent-gateway"))') \
		--copyright-holder="consent-gateway contributors" \
		-o gateway/web/locales/messages.pot .
	$(VENV)/bin/pybabel update -i gateway/web/locales/messages.pot -d gateway/web/locales \
		--ignore-pot-creation-date

# Writes docs/benchmarks.md: every figure beside its baseline from the same run.
bench: install
	@command -v wrk >/dev/null || { $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -qq wrk >/dev/null; }
	$(PY) bench/report.py

reliability: install postgres
	$(PY) -m pytest -q -m slow --run-slow

clean:
	rm -rf $(VENV) var node_modules .pytest_cache .mypy_cache .ruff_cache
