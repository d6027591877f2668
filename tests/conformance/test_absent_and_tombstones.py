"""An artifact that is absent reads the same through every call, and "absent" includes deleted:
a write that expects absence lands on a tombstone, on every engine."""

from __future__ import annotations

import pytest

from ccs.protocol.errors import StaleView, TransactionConflict, UnknownArtifact, VersionConflict


def test_delete_of_never_written_then_a_peer_creates(store):
    core = store.core()
    a, b = core.agent("a"), core.agent("b")
    a.delete("notes")  # never written: leaves a tombstone
    assert b.write("notes", "first draft") == 2  # b never read it: it expects "absent", and it is
    assert store.core().agent("c").read("notes") == "first draft"


def test_create_over_a_deleted_artifact(store):
    core = store.core()
    a, b = core.agent("a"), core.agent("b")
    a.write("plan", "v1")
    a.delete("plan")
    assert b.commit_cas("plan", 0, "v3 by b") == 3  # CAS "create if absent"
    with b.transaction() as t:
        t.write("other", "x")
    b.delete("other")
    with store.core().agent("d").transaction() as t:  # reads "other" as absent: still true
        assert t.read("other", None) is None
        t.write("other", "y")
    assert store.core().agent("e").read("other") == "y"


def test_a_real_artifact_is_still_protected_from_a_create(store):
    core = store.core()
    a, b = core.agent("a"), core.agent("b")
    a.write("plan", "v1")
    with pytest.raises(StaleView) as err:
        b.write("plan", "created from nothing")
    assert err.value.current_version == 1
    with pytest.raises(VersionConflict):
        b.commit_cas("plan", 0, "created from nothing")
    t = b.transaction()
    t.write("plan", "created from nothing")
    with pytest.raises(TransactionConflict):
        t.commit()
    assert store.core().agent("c").read("plan") == "v1"


@pytest.mark.parametrize("deleted", [False, True])
def test_missing_reads_agree(store, deleted):
    agent = store.core().agent("a")
    if deleted:
        agent.write("gone", "x")
        agent.delete("gone")
    for call in (agent.read, agent.read_with_version, agent.snapshot):
        with pytest.raises(UnknownArtifact) as err:
            call("gone")
        assert err.value.code == "unknown_artifact" and err.value.artifact == "gone"
    assert agent.read("gone", "dflt") == "dflt"
    for call in (agent.read_with_version, agent.snapshot):
        v = call("gone", "dflt")
        assert (v.value, v.exists, v.version) == ("dflt", False, 2 if deleted else 0)
    agent.write("gone", {"k": 1})
    v = agent.read_with_version("gone", "dflt")
    assert (v.value, v.exists) == ({"k": 1}, True)
