# Branch Portal: `make run` and `make test` are the whole setup on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DEVELOPMENT ?= true

.PHONY: run test lint format bench install clean-db

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py setup_periodic_tasks
	$(BIN)/python manage.py seed_demo
	@echo
	@echo "  Branch Portal: http://127.0.0.1:8000/"
	@echo "  Log in as staff, manager, auditor or admin; password demo1234"
	@echo
	DEBUG=true $(BIN)/python manage.py runserver 127.0.0.1:8000

test: $(STAMP)
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

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

clean-db:
	rm -rf var/postgres
