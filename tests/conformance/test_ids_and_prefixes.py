"""Identifiers and key prefixes behave the same on every engine.

``keys(prefix)`` selects exactly the keys that start with the prefix, whatever code points they
hold (U+10FFFF, U+FFFF, a prefix of a prefix), so crash recovery finds every agent. Id limits are
in bytes of UTF-8, identical everywhere, and checked before any I/O: the longest valid id works on
every engine and one byte more is ``InvalidIdentifier``, never an outage.
"""

from __future__ import annotations

import random

import pytest

from ccs import CrashRecoveryConfig, ManualClock
from ccs.protocol.errors import InvalidIdentifier
from ccs.protocol.ids import MAX_AGENT_ID, MAX_AGENT_NAME, MAX_ARTIFACT_ID, agent_name

TOP = "\U0010ffff"  # the last code point: 4 bytes of UTF-8, F4 8F BF BF
IDS = ["x", f"x{TOP}", f"x{TOP}{TOP}-y", f"x{TOP}-z", "x\uffff", "x\uffff-q", "xy", "w", "y",
       f"{TOP}", f"{TOP}-only", "x\ue000"]
PREFIXES = ["", "x", f"x{TOP}", f"x{TOP}{TOP}", "x\uffff", TOP, "xy", "z", f"{TOP}-"]


def test_keys_select_exactly_the_ids_with_the_prefix(store):
    coord = store.coordinator()
    for aid in IDS:
        coord.write("writer", aid, 0, None, (aid.encode(), "bytes"))
    for prefix in PREFIXES:
        found = sorted(r.artifact_id for r in coord.artifacts(prefix))
        assert found == sorted(a for a in IDS if a.startswith(prefix)), prefix
    backend = store.backend()
    assert sorted(backend.keys("a/")) == sorted("a/" + a for a in IDS)
    assert [agent_name(k[2:]) for k in backend.keys("g/")] == ["writer"]


def test_sweep_reclaims_a_dead_agent_named_with_the_last_code_point(store):
    clock = ManualClock()
    cr = CrashRecoveryConfig(heartbeat_ttl=10, sweep_interval=1000)
    for name in (f"{TOP}-x", TOP, f"{TOP}{TOP}"):
        store.core(clock=clock, crash_recovery=cr).agent(name).write(f"doc-{len(name)}", "held")
    clock.advance(11)  # every one of them stopped heartbeating
    notes = store.core(clock=clock, crash_recovery=cr).sweep()
    assert sorted(agent_name(n.agent) for n in notes) == sorted([f"{TOP}-x", TOP, f"{TOP}{TOP}"])
    coord = store.coordinator()
    for n in notes:
        assert coord.artifact(n.artifact).owner is None and coord.artifact(n.artifact).epoch == 1


def _four_byte_chars(n: int, seed: int) -> str:
    rng = random.Random(seed)  # incompressible, so PostgreSQL's index cannot squeeze it
    return "".join(chr(rng.randrange(0x10000, 0x110000)) for _ in range(n))


def test_longest_valid_ids_work_on_every_engine(store):
    """4-byte characters up to the byte limit: the keys fit every engine's index."""
    aid = TOP + _four_byte_chars(MAX_ARTIFACT_ID // 4 - 1, 1)
    name = _four_byte_chars(MAX_AGENT_NAME // 4, 2)
    core = store.core()
    agent = core.agent(name)
    assert agent.write(aid, "v1") == 1
    agent.acquire(aid)
    assert store.core().agent("reader").read(aid) == "v1"
    assert [r.artifact_id for r in store.coordinator().artifacts(TOP)] == [aid]
    assert f"g/{agent.id}" in store.backend().keys("g/")


@pytest.mark.parametrize("bad", [
    _four_byte_chars(1024, 3),  # 1024 characters, 4096 bytes: was within the old limit
    TOP * (MAX_ARTIFACT_ID // 4 + 1),  # 1028 bytes, 257 characters
    "é" * (MAX_ARTIFACT_ID // 2 + 1),  # 1026 bytes, 513 characters
    "x" * (MAX_ARTIFACT_ID + 1),
    "half a pair \ud800",
    "\udfff",
])
def test_too_long_or_invalid_artifact_id_is_refused_before_any_io(store, bad):
    core = store.core()
    agent = core.agent("a")
    for attempt in (lambda: agent.write(bad, "v"), lambda: agent.read(bad),
                    lambda: agent.write_cas(bad, lambda old: "v"),
                    lambda: core.coordinator.commit_cas("a", bad, 0, None, (b"v", "bytes"))):
        with pytest.raises(InvalidIdentifier) as err:
            attempt()
        assert not err.value.retryable and err.value.code == "invalid_id"
        err.value.to_json().encode("utf-8")  # serializable for MCP/HTTP even with a lone surrogate
    with pytest.raises(InvalidIdentifier), agent.transaction() as txn:
        txn.write(bad, "v")
    backend = store.backend()
    assert backend.keys("a/") == [] and backend.blob_digests() == set()


@pytest.mark.parametrize("bad", ["\U0001f600" * (MAX_AGENT_ID // 4 + 1), "agent \udc80"])
def test_too_long_or_invalid_agent_id_is_refused_before_any_io(store, bad):
    core = store.core()
    with pytest.raises(InvalidIdentifier):
        core.agent(bad)
    with pytest.raises(InvalidIdentifier):
        core.coordinator.write(bad, "doc", 0, None, (b"v", "bytes"))
    coord = core.coordinator
    for call in (lambda: coord.heartbeat(bad), lambda: coord.release(bad, "doc"),
                 lambda: coord.evict(bad, "doc")):
        with pytest.raises(InvalidIdentifier):
            call()
    backend = store.backend()
    assert backend.keys("") == [] and backend.blob_digests() == set()
