# Two commands from a fresh clone: `make demo` and `make test`. Each builds .venv as needed.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= test,all

.PHONY: venv demo test test-crewai lint bench bench-tokens check-models tla-check clean

$(BIN)/ccs: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	@touch $(BIN)/ccs

venv: $(BIN)/ccs

demo: venv
	$(BIN)/ccs demo

test: venv
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) test-crewai

# CrewAI in its own venv (it pins openai<3 and pydantic<2.13), cached outside the checkout under
# $${CCS_CACHE_DIR:-~/.cache/agent-coherence} and reused by fresh clones; see .ci/crewai-env.sh.
test-crewai:
	@venv="$$(bash .ci/crewai-env.sh)" && \
	PYTHONPATH="$(CURDIR)/src" CREWAI_DISABLE_TELEMETRY=true OTEL_SDK_DISABLED=true CREWAI_TRACING_ENABLED=false \
	"$$venv/bin/python" -m pytest tests/crewai $(CREWAI_PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check src tests benchmarks examples

bench: venv
	$(BIN)/python benchmarks/core.py

# the full billed-token benchmark (3 seeds x 24 rounds, 1-2 min): rewrites the README tables
bench-tokens: venv
	$(BIN)/ccs bench --out reports --readme README.md

check-models:
	bash formal/check.sh

tla-check: check-models  # the seed's name; the models are Rumur's (TLA+'s TLC cannot be installed here)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis formal/build
