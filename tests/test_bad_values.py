"""Values and arguments that Python would accept until something deep inside failed: each is a
typed error with a stable code before anything is written (issue: untyped escapes)."""

from __future__ import annotations

import math

import pytest

from ccs import CoherenceAdapterCore, CrashRecoveryConfig, Limits
from ccs.protocol.errors import CoherenceError, InvalidArgument, InvalidValue


def deep(n: int):
    value: object = "leaf"
    for _ in range(n):
        value = [value]
    return value


BAD_VALUES = {
    "nested 5000 deep": deep(5000),
    "nested dict 300 deep": {"a": deep(299)},
    "int key": {1: "x"},
    "nested int key": {"ok": {2.5: "x"}},
    "tuple": ("a", "b"),
    "tuple inside": {"steps": ("a", "b")},
    "set": {"a"},
    "NaN": {"x": math.nan},
    "infinity": [math.inf],
    "object": object(),
    "lone surrogate text": "plan \ud800 draft",
}


@pytest.fixture
def agents():
    core = CoherenceAdapterCore()
    yield core.agent("a"), core.agent("b")
    core.close()


@pytest.mark.parametrize("name", list(BAD_VALUES))
def test_values_that_do_not_round_trip_are_refused(agents, name):
    a, b = agents
    a.write("doc", {"keep": "me"})
    value = BAD_VALUES[name]
    calls = [
        lambda: a.write("doc", value),
        lambda: a.commit_cas("doc", 1, value),
        lambda: a.write_cas("doc", lambda old: value),
        lambda: a.write("fresh", value),
    ]
    for call in calls:
        with pytest.raises(InvalidValue) as err:
            call()
        assert err.value.code == "invalid_value" and err.value.recover
    t = a.transaction()
    with pytest.raises(InvalidValue):
        t.write("doc", value)
    assert b.read("doc") == {"keep": "me"} and b.read("fresh", None) is None
    assert b.read_with_version("doc").version == 1


def test_json_values_that_round_trip_are_accepted(agents):
    a, b = agents
    value = {"n": 1, "x": 1.5, "t": True, "none": None, "s": "é \U0001f600", "l": [1, [2, {"k": []}]],
             "deep": deep(200)}
    a.write("doc", value)
    assert b.read("doc") == value


@pytest.mark.parametrize("make", [
    lambda: CrashRecoveryConfig(heartbeat_ttl="30"),
    lambda: CrashRecoveryConfig(heartbeat_ttl=math.nan),
    lambda: CrashRecoveryConfig(heartbeat_ttl=-1),
    lambda: CrashRecoveryConfig(sweep_interval="5"),
    lambda: CrashRecoveryConfig(enabled="yes"),
    lambda: Limits("1000"),
    lambda: Limits(max_content_bytes=0),
    lambda: Limits(retain_versions=2.5),
    lambda: Limits(retain_versions=True),
    lambda: CoherenceAdapterCore(unavailable_retries="3"),
    lambda: CoherenceAdapterCore(strategy="lease", ttl=math.nan),
], ids=["ttl str", "ttl nan", "ttl negative", "sweep str", "enabled str", "limits str",
        "limits zero", "retain float", "retain bool", "core retries str", "lease nan"])
def test_configuration_types(make):
    with pytest.raises(CoherenceError) as err:
        make()
    assert err.value.code in {"invalid_argument", "invalid_strategy_parameter"} and err.value.recover


@pytest.mark.parametrize("kwargs", [{"retries": "8"}, {"retries": -1}, {"retries": 2.0},
                                    {"backoff": "0.1"}, {"backoff": math.inf}])
def test_write_cas_arguments(agents, kwargs):
    a, b = agents
    a.write("n", 1)
    with pytest.raises(InvalidArgument) as err:
        a.write_cas("n", lambda v: v + 1, **kwargs)
    assert err.value.details["parameter"] in kwargs
    assert b.read("n") == 1


@pytest.mark.parametrize("version", ["1", 1.0, None, -1, True])
def test_commit_cas_expected_version_type(agents, version):
    a, b = agents
    a.write("n", 1)
    with pytest.raises(InvalidArgument) as err:
        a.commit_cas("n", version, 2)
    assert "expected_version" in err.value.message
    assert b.read("n") == 1
