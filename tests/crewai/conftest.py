import os
import sys
from pathlib import Path

# Before crewai is imported: no telemetry, no tracing, no network at kickoff.
os.environ["CREWAI_DISABLE_TELEMETRY"] = "true"
os.environ["OTEL_SDK_DISABLED"] = "true"
os.environ["CREWAI_TRACING_ENABLED"] = "false"
sys.path.insert(0, str(Path(__file__).parent))

import pytest

from ccs import CoherenceAdapterCore


def pytest_configure(config):
    # CrewAI's own deprecation noise (hundreds per run), not ours.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:crewai")
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:lancedb")


@pytest.fixture(params=["memory", "sqlite"])
def shared_core(request, tmp_path):
    """The core the crew shares, on each engine; the SQLite one is a file other processes could open."""
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'state.db'}"
    c = CoherenceAdapterCore(engine=url)
    yield c
    c.close()
