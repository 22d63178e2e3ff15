# Crucible: `make run` starts the whole platform, `make test` runs the whole suite.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-stamp

.PHONY: run test lint format bench deps docs

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when a requirements file changed. torch is pinned first so no
# other requirement can pull a CUDA build (see requirements/worker.txt).
REQUIREMENTS := $(wildcard requirements/*.txt)

$(STAMP): $(PY) $(REQUIREMENTS)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c requirements/constraints.txt -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -c requirements/constraints.txt -r requirements/worker-nodeps.txt
	touch $(STAMP)

deps: $(STAMP)

run: deps
	$(PY) -m deploy.run_local

test: deps
	$(PY) -m pytest

# mypy imports the settings through django-stubs: any SECRET_KEY will do for reading them.
lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	SECRET_KEY=$${SECRET_KEY:-type-checking-only} $(VENV)/bin/mypy .

format: deps
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: deps
	$(PY) -m benchmarks.run_all

# The generated parts of docs/nodes.md, docs/samplers.md and README.md, from the node specs.
docs: deps
	$(PY) -m nodes.docs
