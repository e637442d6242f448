# Two commands: `make run` serves the hook, `make test` runs the whole suite.
# Both set up their own virtual environment from pyproject.toml; nothing is installed by hand.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8080
HOST   ?= 127.0.0.1

.PHONY: run test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Runtime dependencies are pinned to requirements.lock (what the image ships), so the tests run
# the same versions; its hashes are for the image build and are stripped for this editable install.
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	sed -e '/--hash=/d' -e 's/[[:space:]]*\\$$//' requirements.lock > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet -c $(VENV)/constraints.txt -e '.[test]'
	touch $@

run: $(VENV)/.installed
	PORT=$(PORT) HOST=$(HOST) $(BIN)/gunicorn -c python:hooks.gunicorn_conf hooks.sync:app

lint: $(VENV)/.installed
	$(BIN)/ruff check hooks engine_builder tests benchmarks scripts
	$(BIN)/ruff format --check hooks engine_builder tests benchmarks
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed
	$(BIN)/mypy hooks engine_builder

# The venv's bin comes first on PATH, so a Job's command (`python3 -m engine_builder`) run as
# written by a test finds the project's interpreter.
unit: $(VENV)/.installed
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python -m pytest

test: lint typecheck unit

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
