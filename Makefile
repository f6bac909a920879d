# The two commands: `make run` (serve the demo) and `make test` (the whole suite).
# Both set themselves up from a fresh clone with nothing but Python 3.11+.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SERVICES := $(PY) -m portal.devservices

.PHONY: run test install messages lint format lock manage

run: install
	$(SERVICES) serve

test: install
	@sh scripts/ensure_test_tools.sh
	$(SERVICES) exec -- $(PY) -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed messages

$(VENV)/.installed: requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tandportal needs Python 3.11 or later: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
	touch $@

# Translations are kept as .po; the compiled .mo files are built, not committed.
messages: $(VENV)/.installed
	@$(PY) scripts/compile_messages.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Re-pin every dependency after changing pyproject.toml.
lock: $(VENV)/.installed
	$(VENV)/bin/pip-compile --quiet --extra dev --strip-extras --allow-unsafe --no-emit-index-url \
		--no-emit-find-links -o requirements.lock pyproject.toml

# Any manage.py command with the embedded services: make manage ARGS="createsuperuser"
manage: install
	$(SERVICES) exec -- $(PY) manage.py $(ARGS)

# Invoice file benchmark (issue 5), in its own database tandportal_bench; figures in docs/benchmarks.md.
# make bench BENCH_ARGS="--sizes 1000,10000,100000"
.PHONY: bench
bench: install
	$(SERVICES) exec -- $(PY) bench/invoice_files.py $(BENCH_ARGS)
