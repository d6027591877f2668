"""Invalidations reach other clients over each engine's own bus (and over NATS).

Delivery is asynchronous across processes: the tests wait (bounded) for the invalidation to
arrive, and assert what it did, never how fast it came.
"""

from __future__ import annotations

import time
import uuid

import pytest

from ccs import CoherenceAdapterCore, Mesi
from ccs.bus.base import reset_event
from conftest import service_url

WAIT = 10.0


def wait_for(predicate, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def test_commit_invalidates_copies_held_by_another_client(store):
    writer, reader = store.core().agent("writer"), store.core().agent("reader")
    writer.write("plan", "v1")
    assert reader.read("plan") == "v1"
    assert reader.state("plan") is Mesi.SHARED
    writer.write("plan", "v2")
    assert wait_for(lambda: reader.state("plan") is Mesi.INVALID)
    assert reader.stats.invalidations == 1
    assert reader.read("plan") == "v2"


def test_reset_signal_revalidates_every_cached_copy(store):
    core = store.core()
    writer, reader = store.core().agent("writer"), core.agent("reader")
    for name in ("a", "b", "c"):
        writer.write(name, name)
        reader.read(name)
    assert {reader.state(n) for n in "abc"} == {Mesi.SHARED}
    core._on_event(reset_event("test"))  # what a bus delivers after reconnecting
    assert {reader.state(n) for n in "abc"} == {Mesi.INVALID}
    assert [reader.read(n) for n in "abc"] == ["a", "b", "c"]
    assert reader.stats.not_modified == 3  # revalidated without moving content


@pytest.mark.parametrize("engine", ["redis", "postgres"])
def test_nats_bus_carries_invalidations(engine, tmp_path):
    from conformance.conftest import Store

    s = Store(engine, tmp_path)
    bus = service_url("CCS_TEST_NATS_URL") + f"?subject=ccs.test.{uuid.uuid4().hex[:12]}"
    try:
        one, two = s.core(bus=bus), s.core(bus=bus)
        assert type(one.coordinator.bus).__name__ == "NatsBus"
        writer, reader = one.agent("writer"), two.agent("reader")
        writer.write("plan", "v1")
        assert reader.read("plan") == "v1"
        writer.write("plan", "v2")
        assert wait_for(lambda: reader.state("plan") is Mesi.INVALID)
        assert reader.read("plan") == "v2"
    finally:
        s.cleanup()


def test_default_bus_is_the_engines_own(store):
    expected = {"memory": "MemoryBus", "sqlite": "SqliteBus", "postgres": "PostgresBus", "redis": "RedisBus"}
    core = CoherenceAdapterCore(engine=store.url) if store.shared else store.core()
    try:
        assert type(core.coordinator.bus).__name__ == expected[store.kind]
    finally:
        if store.shared:
            core.close()
