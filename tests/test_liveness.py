"""The ownership index as pure transitions: a grant adds one entry and counts it, the sweep
removes what it locked and keeps counting what it did not find (ccs.protocol.liveness)."""

from __future__ import annotations

from ccs.backends.base import decode_record, encode_record, owns_key
from ccs.protocol import liveness as lv
from ccs.protocol.errors import CorruptState
from ccs.protocol.messages import Step
from ccs.protocol.records import AgentRecord, ArtifactRecord, Grant, OwnershipEntry

NOW = 1000.0
TTL = 4.0


def owned_by(agent: str, aid: str) -> ArtifactRecord:
    return ArtifactRecord(aid, version=1, owner=Grant(agent, 0, NOW))


def test_a_new_grant_adds_one_entry_and_counts_it_without_listing_the_others():
    rec = AgentRecord("a", NOW + 1, TTL, indexed=2999)
    step = lv.note_grant(rec, False, "a", "x", TTL, NOW)
    assert step.owns == {("a", "x"): True}
    assert step.agents == {"a": AgentRecord("a", NOW + TTL, TTL, indexed=3000)}
    first = lv.note_grant(None, False, "a", "x", TTL, NOW)
    assert first.owns == {("a", "x"): True} and first.agents["a"].indexed == 1


def test_a_listed_grant_only_refreshes_liveness_and_skips_the_write_while_fresh():
    fresh = AgentRecord("a", NOW + TTL, TTL, indexed=5)
    assert lv.note_grant(fresh, True, "a", "x", TTL, NOW).agents == {}
    stale = AgentRecord("a", NOW + 1, TTL, indexed=5)
    step = lv.note_grant(stale, True, "a", "x", TTL, NOW)
    assert step.owns == {} and step.agents["a"] == AgentRecord("a", NOW + TTL, TTL, indexed=5)
    legacy = AgentRecord("a", NOW + 1, TTL, frozenset({"x"}))  # listed by the previous layout
    step = lv.note_grant(legacy, False, "a", "x", TTL, NOW)
    assert step.owns == {} and step.agents["a"].owned == {"x"} and step.agents["a"].indexed == 0


def test_the_sweep_removes_the_entries_it_locked_and_deletes_a_drained_record():
    dead = AgentRecord("a", NOW - 1, TTL, indexed=2)
    step = lv.sweep_agent(dead, {"x": owned_by("a", "x"), "y": owned_by("b", "y")}, NOW, ["x", "y"])
    assert step.owns == {("a", "x"): False, ("a", "y"): False}
    assert [n.artifact for n in step.reply] == ["x"] and "y" not in step.artifacts
    assert step.agents == {"a": None}


def test_the_sweep_keeps_counting_entries_it_did_not_find():
    """An entry added after the sweep looked, or missing from the index: the record stays,
    counting it, so the next look (or a scan) finds it; never deleted as owning nothing."""
    dead = AgentRecord("a", NOW - 1, TTL, indexed=3)
    step = lv.sweep_agent(dead, {"x": owned_by("a", "x")}, NOW, ["x"])
    assert step.agents == {"a": AgentRecord("a", NOW - 1, TTL, indexed=2)}


def test_a_scan_settles_what_the_record_counted_when_it_was_read():
    dead = AgentRecord("a", NOW - 1, TTL, indexed=3)
    scanned = lv.sweep_agent(dead, {"x": owned_by("a", "x")}, NOW, scanned=3)
    assert scanned.agents == {"a": None} and [n.artifact for n in scanned.reply] == ["x"]
    grew = AgentRecord("a", NOW - 1, TTL, indexed=4)  # one more counted after the scan's read
    assert lv.sweep_agent(grew, {}, NOW, scanned=3).agents["a"].indexed == 1


def test_the_sweep_never_touches_a_live_agent_whatever_its_index_says():
    live = AgentRecord("a", NOW, TTL, indexed=0)
    step = lv.sweep_agent(live, {"x": owned_by("a", "x")}, NOW, ["x"], scanned=0)
    assert step.reply == [] and step.artifacts == {} and step.agents == {} and step.owns == {}


def test_handoff_moves_the_entry_and_both_counts():
    receiver = AgentRecord("r", NOW + 2, TTL, indexed=1)
    giver = AgentRecord("g", NOW + 3, TTL, indexed=4)
    step = lv.note_handoff(Step(None), receiver, False, giver, True, "g", "x")
    assert step.owns == {("r", "x"): True, ("g", "x"): False}
    assert step.agents == {"r": AgentRecord("r", NOW + 2, TTL, indexed=2),
                           "g": AgentRecord("g", NOW + 3, TTL, indexed=3)}


def test_records_round_trip_and_damage_is_corrupt_state():
    rec = AgentRecord("a", NOW, TTL, indexed=7)
    assert decode_record("g/a", encode_record(rec)) == rec
    assert "owned" not in encode_record(rec)  # a release before the index fails closed on it
    legacy = '{"agent":"a","expires_at":1000.0,"ttl":4.0,"owned":["x","y"]}'
    assert decode_record("g/a", legacy) == AgentRecord("a", NOW, TTL, frozenset({"x", "y"}))
    key = owns_key("a", "x")
    assert decode_record(key, encode_record(OwnershipEntry("a", "x"))) == OwnershipEntry("a", "x")
    for body in ('{"agent":"a","artifact":"z"}', "{", '{"agent":"a"}'):
        try:
            decode_record(key, body)
        except CorruptState as exc:
            assert exc.code == "corrupt_state"
        else:
            raise AssertionError(f"{body!r} was accepted")
    try:
        decode_record("g/a", '{"agent":"a","expires_at":1,"ttl":4,"indexed":-1}')
    except CorruptState:
        pass
    else:
        raise AssertionError("a negative count was accepted")


def test_upgrade_moves_only_the_locked_artifacts_of_the_old_list_into_the_index():
    old = AgentRecord("a", NOW, TTL, frozenset({"x", "y", "z"}), 1)
    step = lv.upgrade(old, ["x"], ["y"])  # z was not locked (listed after the caller looked)
    assert step.owns == {("a", "x"): True}
    assert step.reply == step.agents["a"] == AgentRecord("a", NOW, TTL, frozenset({"z"}), 2)
    assert lv.upgrade(None, ["x"], []).agents == {}
