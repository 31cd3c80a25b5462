# The only entry points a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format migrate demo bench clean deps messages assets screenshots browser tools lock sbom

# Exact versions with their hashes from requirements.lock (make lock rewrites it from pyproject.toml).
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

deps: $(STAMP) messages

# The Welsh catalogue (locale/cy) compiled for Django; GNU gettext's msgfmt from Debian, installed when missing.
messages:
	@if ! command -v msgfmt >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's gettext for the Welsh catalogue"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; \
	  else \
	    echo "Install GNU gettext (apt-get install gettext) to compile the Welsh catalogue" >&2; exit 1; \
	  fi; \
	fi
	@for po in locale/*/LC_MESSAGES/django.po; do msgfmt --check-format -o "$${po%.po}.mo" "$$po"; done

# `make run` is a development server: DEBUG on unless the environment says otherwise.
DEV := DEBUG=$${DEBUG:-true} LOG_FORMAT=$${LOG_FORMAT:-text} SITE_URL=$${SITE_URL:-http://$(HOST):$(PORT)}

migrate: deps
	mkdir -p var
	$(PY) bin/ensure-database
	$(DEV) $(PY) manage.py migrate --noinput

demo: migrate
	$(DEV) $(PY) manage.py seed_demo --if-empty

# The delivery worker runs beside the server, so the demo's e-mails appear in this console as they are sent.
# process_due runs every minute beside them, as the deployment's timer does, so /readyz stays at 200.
run: demo
	@$(DEV) $(PY) manage.py deliver_notifications --loop --interval 2 & worker=$$!; \
	( while true; do $(DEV) $(PY) manage.py process_due >/dev/null; sleep 60; done ) & due=$$!; \
	trap "kill $$worker $$due 2>/dev/null" EXIT INT TERM; \
	$(DEV) $(PY) manage.py runserver $(HOST):$(PORT)

test: deps browser tools
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

# nginx (for `nginx -t` on deploy/nginx) from Debian's packages, and the OpenID provider the SSO tests
# sign in through (npm's oidc-provider, pinned in package-lock.json); installed when missing and we may.
tools:
	@if ! command -v node >/dev/null 2>&1 && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's nodejs and npm for the SSO tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	fi
	@if command -v npm >/dev/null 2>&1 && ! test -d node_modules/oidc-provider; then \
	  npm ci --no-audit --no-fund --loglevel=error; \
	fi
	@if ! command -v nginx >/dev/null 2>&1 && ! test -x /usr/sbin/nginx; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Debian's nginx-light for the deployment checks"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	  else \
	    echo "The nginx check will be skipped: install Debian's nginx-light"; \
	  fi; \
	fi

lock: deps
	$(PY) -m piptools compile --quiet --generate-hashes --extra test --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

# A CycloneDX software bill of materials for everything the lock installs.
sbom: deps
	mkdir -p var
	$(PY) -m cyclonedx_py requirements requirements.lock --output-format JSON -o var/sbom.json
	@echo "SBOM written to var/sbom.json"

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
	@if ! command -v wrk >/dev/null 2>&1 && [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Debian's wrk for the feed polling benchmark"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	fi
	cd bench && ../$(PY) booking_race.py && ../$(PY) search_scale.py && ../$(PY) feed.py && \
	  ../$(PY) feed_poll.py && ../$(PY) report.py

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
