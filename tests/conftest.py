import importlib.util
import os
import sys
from pathlib import Path

import pytest

from ccs import CoherenceAdapterCore, ManualClock

# CrewAI lives in its own venv (`make test-crewai`): elsewhere its tests are not collected. (With
# tests/ on sys.path, tests/crewai itself is found as a namespace package: that is not CrewAI.)
_crewai = importlib.util.find_spec("crewai")
if _crewai is None or _crewai.origin in (None, "namespace"):
    collect_ignore = ["crewai"]


def load_benchmark(name: str):
    """A script of benchmarks/ as a module, without putting that folder on sys.path: it would stay
    there for every later test, and be handed to spawned processes."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def service_url(var: str) -> str:
    """URL of a test service from the environment; skip without it (fail under CCS_REQUIRE_SERVICES)."""
    url = os.environ.get(var)
    if not url:
        if os.environ.get("CCS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{var} is not set but CCS_REQUIRE_SERVICES=1")
        pytest.skip(f"{var} not set")
    return url


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def core(clock):
    c = CoherenceAdapterCore(engine="memory://", clock=clock)
    yield c
    c.close()


README = Path(__file__).resolve().parent.parent / "README.md"


def readme_section(heading: str) -> str:
    """The README text from ``heading`` (a '## ' line) up to the next '## ' heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n") + 1
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end < 0 else text[start:end + 1]


@pytest.fixture
def readme():
    return readme_section


def pytest_terminal_summary(terminalreporter):
    """How many faults the fault-injection suite injected in this run (the README quotes it)."""
    faults = sys.modules.get("conformance.faults")
    if faults is not None and faults.TOTALS:
        counts = ", ".join(f"{k} {n}" for k, n in sorted(faults.TOTALS.items()))
        terminalreporter.write_line(f"faults injected: {sum(faults.TOTALS.values())} ({counts}); "
                                    f"histories checked: {faults.HISTORIES[0]}")
