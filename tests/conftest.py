import os

import pytest

from ccs import CoherenceAdapterCore, ManualClock


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
