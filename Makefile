# The only entry points a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format migrate demo bench clean deps assets screenshots browser

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

deps: $(STAMP)

# `make run` is a development server: DEBUG on unless the environment says otherwise.
DEV := DEBUG=$${DEBUG:-true}

migrate: deps
	mkdir -p var
	$(PY) bin/ensure-database
	$(DEV) $(PY) manage.py migrate --noinput

demo: migrate
	$(DEV) $(PY) manage.py seed_demo --if-empty

run: demo
	$(DEV) $(PY) manage.py runserver $(HOST):$(PORT)

test: deps browser
	$(PY) bin/ensure-database
	$(PY) -m pytest

# Browser tests use Debian's Chromium; installed here when missing and we may (root), else they skip.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else \
	    echo "Browser tests will be skipped: install Debian's chromium (apt-get install chromium chromium-driver)"; \
	  fi; \
	fi

screenshots: deps browser
	rm -rf var/screenshots
	RIDEALONG_SCREENSHOTS=var/screenshots $(PY) -m pytest tests/test_browser.py -k screenshots -q
	@echo "Screenshots are in var/screenshots/"

lint: deps
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: deps
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Benchmarks print their figures; they need the local PostgreSQL (see README: Benchmarks).
bench: deps
	cd bench && ../$(PY) booking_race.py && ../$(PY) search_scale.py && ../$(PY) feed.py

clean:
	rm -rf $(VENV) var

# Refresh the committed front-end assets from the versions pinned in package.json (needs Node).
VENDOR := scheduling/static/vendor
assets:
	npm ci --no-audit --no-fund
	mkdir -p $(VENDOR)/nhsuk/images
	cp node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.css $(VENDOR)/nhsuk/
	cp node_modules/nhsuk-frontend/dist/nhsuk/nhsuk-frontend.min.js $(VENDOR)/nhsuk/
	cp node_modules/nhsuk-frontend/dist/nhsuk/assets/images/favicon.* $(VENDOR)/nhsuk/images/
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/axe-core/axe.min.js $(VENDOR)/
