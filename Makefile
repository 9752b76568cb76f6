# Branch Portal: `make run` and `make test` are the whole setup on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every package, direct and transitive, pinned with its hashes: dev.lock for make (the dev
# extras too), prod.lock (the same versions, without the dev tools) for the Docker image.
LOCK := requirements/dev.lock
PROD_LOCK := requirements/prod.lock
# Re-resolves for Python 3.11 on every platform; keeps the current pins unless UPGRADE=true.
COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" $(if $(filter true,$(UPGRADE)),--upgrade)
export DEVELOPMENT ?= true
# `make run PORT=8001` serves beside another checkout's server.
PORT ?= 8000

.PHONY: run test lint format bench install lock clean-db

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# A changed lock reinstalls. The project itself is not installed: it runs from this folder
# (pyproject.toml lists no packages), and an editable install cannot be hash-checked.
$(STAMP): $(LOCK) | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	touch $(STAMP)

install: $(STAMP)

# After changing pyproject.toml's dependencies: `make lock`; to move every pin to the newest
# release pyproject.toml allows: `make lock UPGRADE=true`. Commit both lock files.
lock: $(STAMP)
	$(COMPILE) --extra dev --output-file $(LOCK)
	$(COMPILE) --constraint $(LOCK) --output-file $(PROD_LOCK)

# Two database roles (docs/decisions/0010-two-database-roles.md): migrate and seed_synthetic
# connect as the owner (DATABASE_OWNER_URL, or the embedded server's postgres) and migrate grants
# the application role; every other command, the server and the tests' workers connect as the
# application role (DATABASE_URL, or the embedded server's branch_portal_app). pytest itself is
# the owner: it creates and migrates the test database.
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_periodic_tasks
	$(BIN)/python manage.py seed_demo
	@echo
	@echo "  Branch Portal: http://127.0.0.1:$(PORT)/"
	@echo "  Log in as staff, teller, manager, auditor or admin; password demo1234"
	@echo
	DEBUG=true $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(STAMP)
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

# lint-imports: the contracts in pyproject.toml ([tool.importlinter]), the apps' one direction.
# mypy's django-stubs plugin reads the settings: a DATABASE_URL it never connects to keeps it
# from starting the embedded PostgreSQL.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DEVELOPMENT=true DATABASE_URL=postgres://mypy@127.0.0.1/none $(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_synthetic --office BENCH --households 200000 --loans 400000 --entries 5000000 --replace
	$(BIN)/python manage.py bench_pages --office BENCH --requests 50
	$(BIN)/python manage.py seed_synthetic --office BENCH1M --households 500000 --loans 1000000 --entries 10000000 --seed 2 --replace
	$(BIN)/python manage.py createsuperuser --noinput --username bench_admin --email bench@localhost 2>/dev/null || true
	$(BIN)/python manage.py close_history --office BENCH1M --through 2021-05 --user bench_admin
	$(BIN)/python manage.py bench_reports --office BENCH1M --from 2021-01-01 --as-of 2021-06-15
	$(BIN)/python manage.py fee_statement --office BENCH1M --month 2021-05 --time
	$(BIN)/python manage.py bench_commune_day_post --office BENCHCD --members 60 --runs 3
	$(BIN)/python manage.py seed_synthetic --office SHEETS --households 12000 --loans 20000 --entries 200000 --seed 3 --replace
	$(BIN)/python manage.py bench_commune_day --office SHEETS --user bench_admin
	$(BIN)/python manage.py bench_api_receipts --office SHEETS --user bench_admin --requests 1000

clean-db:
	rm -rf var/postgres
