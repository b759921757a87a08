# Signet — two commands: `make run` (try it) and `make test` (prove it).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
# gunicorn's access log (e.g. ACCESS_LOG=- for stdout). Off by default: the load balancer in front
# logs requests, and writing the line in Python cost 15 % of `make serve`'s throughput.
ACCESS_LOG ?=

.PHONY: run test test-fast test-pg lint fmt serve bench check-deploy migrate demo clean help

help:
	@echo "make run          venv, install, migrate, demo tenant/widget/login, serve on http://$(HOST):$(PORT)"
	@echo "make test         the whole suite (SQLite; set DATABASE_URL for PostgreSQL), browser tests included"
	@echo "make test-pg      the suite on PostgreSQL + Redis (127.0.0.1)"
	@echo "make lint         ruff check + format check, makemigrations --check"
	@echo "make serve        production-like: collectstatic + gunicorn, one worker per core"
	@echo "make bench        the verification benchmark (see README)"

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@

.env:
	@echo "Writing a development .env (DEBUG on, plain HTTP, random SECRET_KEY)"
	@printf 'DEBUG=True\nHTTPS=False\nSECRET_KEY=%s\nALLOWED_HOSTS=127.0.0.1,localhost\n' \
		"$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" > .env

migrate: $(VENV)/.installed .env
	$(PY) manage.py migrate --noinput

demo: migrate
	@$(PY) manage.py setup_demo | tee var/demo-login.txt

run: demo
	@echo ""
	@echo "  Signet is starting on http://$(HOST):$(PORT)/"
	@echo "  Log in at http://$(HOST):$(PORT)/accounts/login/ with: $$(sed -n 's/.*login //p' var/demo-login.txt)"
	@echo "  Ops (Django admin): python manage.py createsuperuser, then http://$(HOST):$(PORT)/admin/"
	@echo ""
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed
	@scripts/ensure-chromium
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "not browser and not slow" $(PYTEST_ARGS)

test-pg: $(VENV)/.installed
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/signet REDIS_URL=redis://127.0.0.1:6379/15 $(MAKE) test

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	SIGNET_TESTING=1 $(PY) manage.py makemigrations --check --dry-run

fmt: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check-deploy: $(VENV)/.installed
	DEBUG=False HTTPS=True SIGNET_KEK=$$($(PY) -c 'import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())') \
	SECRET_KEY=$$($(PY) -c 'import secrets;print(secrets.token_urlsafe(50))') ALLOWED_HOSTS=signet.example.com \
	$(PY) manage.py check --deploy --fail-level WARNING

serve: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	exec $(PY) -m gunicorn portal.wsgi:application --bind $(HOST):$(PORT) --workers $(WORKERS) \
		--worker-class sync --max-requests 100000 --max-requests-jitter 1000 $(if $(ACCESS_LOG),--access-logfile $(ACCESS_LOG)) --log-level warning \
		$(GUNICORN_ARGS)

bench: $(VENV)/.installed
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
