# The two entry points named in the README. Both set up what is missing
# first (Debian packages, then a virtualenv with the project installed).
PY ?= python3
VENV ?= .venv
STAMP := $(VENV)/.installed

.PHONY: demo test lint setup shell bench

demo: setup
	$(VENV)/bin/dmfw-harness demo

# The linter, then the whole pytest suite (host, MicroPython, guest); both run, and
# `make test` fails if either does.
test: setup
	status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS) || status=1; \
	exit $$status

lint: setup
	$(VENV)/bin/ruff check .

bench: setup
	$(VENV)/bin/python -m bench

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup-host.sh
	sh scripts/setup-host.sh
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,bench]'
	touch $(STAMP)
