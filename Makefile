# Two commands from a fresh clone: `make demo` and `make test`. Each builds .venv as needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= test,all

.PHONY: venv demo test lint bench check-models clean

$(BIN)/ccs: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	@touch $(BIN)/ccs

venv: $(BIN)/ccs

demo: venv
	$(BIN)/ccs demo

test: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests benchmarks

bench: venv
	$(BIN)/python benchmarks/core.py

check-models:
	bash formal/check.sh

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis formal/build
