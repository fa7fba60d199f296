# The two commands a newcomer needs: `make run` and `make test`.
# Each installs whatever is missing into .venv first (llama-cpp-python is
# built from source the first time: about 4 minutes on 2 cores).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?= ./data
PYTEST_ARGS ?=

.PHONY: run test lint bench install browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/kith --data-dir $(DATA) init --if-empty
	$(BIN)/kith --data-dir $(DATA) serve

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/kith bench all

clean:
	rm -rf $(VENV) build *.egg-info
