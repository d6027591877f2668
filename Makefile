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

# The benchmarks and the scale curves, bounded to a few minutes; results (JSON, tables, the scale
# curves' HTML report) in bench-results/. The networked engines are measured when their URLs are
# set (CCS_TEST_POSTGRES_DSN, CCS_TEST_REDIS_URL; .ci/services.sh starts local ones).
BENCH_OUT ?= bench-results
bench: venv
	@mkdir -p $(BENCH_OUT)
	$(BIN)/python benchmarks/core.py --quick > $(BENCH_OUT)/core.txt && cat $(BENCH_OUT)/core.txt
	$(BIN)/python benchmarks/langgraph_store.py --n 5000 --rounds 3 > $(BENCH_OUT)/langgraph_store.txt && cat $(BENCH_OUT)/langgraph_store.txt
	$(BIN)/python benchmarks/volume.py --seconds 1 --json $(BENCH_OUT)/volume.json
	@if [ -n "$$CCS_TEST_POSTGRES_DSN$$CCS_TEST_REDIS_URL" ]; then \
		engines=$$( [ -n "$$CCS_TEST_POSTGRES_DSN" ] && printf postgres, )$$( [ -n "$$CCS_TEST_REDIS_URL" ] && printf redis, ); \
		$(BIN)/python benchmarks/engines.py --seconds 1 --rounds 3 --engines sqlite,$${engines%,} --json $(BENCH_OUT)/engines.json && \
		$(BIN)/python benchmarks/roundtrips.py --engines $${engines%,} --json $(BENCH_OUT)/roundtrips.json; \
	else $(BIN)/python benchmarks/engines.py --seconds 1 --rounds 3 --engines sqlite --json $(BENCH_OUT)/engines.json; fi
	$(BIN)/python benchmarks/scale.py $(SCALE_ARGS) --out $(BENCH_OUT)

# the full billed-token benchmark (3 seeds x 24 rounds, 1-2 min): rewrites the README tables
bench-tokens: venv
	$(BIN)/ccs bench --out reports --readme README.md

check-models:
	bash formal/check.sh

tla-check: check-models  # the seed's name; the models are Rumur's (TLA+'s TLC cannot be installed here)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis formal/build
