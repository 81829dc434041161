# Two commands matter: `make demo` (the main job, end to end) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Exact versions (with hashes) of the runtime and [dev] dependencies; pyproject.toml keeps the lower bounds.
LOCK := requirements.lock

.PHONY: demo test lint typecheck lock bench serve clean

# `pip check` fails when pyproject.toml asks for something the lock lacks: then run `make lock`.
$(STAMP): pyproject.toml $(LOCK)
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flowservice demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy flowservice crm_emulator tests
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy flowservice crm_emulator tests

# Resolve pyproject.toml's dependencies (runtime and [dev], for every platform) from PyPI into the lock, keeping the
# versions it pins where they still fit; `make lock LOCK_FLAGS=--upgrade` takes the newest. Needs no installed
# venv (a stale lock fails `pip check` above), only uv.
lock:
	test -x $(BIN)/uv || { test -d $(VENV) || $(PYTHON) -m venv $(VENV); $(BIN)/pip install --quiet uv; }
	$(BIN)/uv pip compile $(LOCK_FLAGS) pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
		--custom-compile-command 'make lock' --quiet -o $(LOCK)

bench: $(STAMP)
	$(BIN)/python bench/emulator.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/explore.py
	$(BIN)/python bench/ingest.py

serve: $(STAMP)
	$(BIN)/flowservice serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
