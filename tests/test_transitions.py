"""One test per transition of the pure protocol (no coordinator, no engine, no clock)."""

import json

import pytest

from ccs.protocol import liveness as lv
from ccs.protocol import transitions as tr
from ccs.protocol.errors import (
    ERRORS_BY_CODE,
    CoherenceError,
    ConflictError,
    GrantReclaimed,
    NotOwner,
    StaleEpoch,
    StaleView,
    StateError,
    TransactionConflict,
    VersionConflict,
)
from ccs.protocol.messages import Event, TxnCommitted
from ccs.protocol.records import DELETED, AgentRecord, ArtifactRecord, Content, Grant, Mesi, Reclaim

NOW = 100.0


def content(n: int) -> Content:
    return Content(f"digest-{n}", n, "str")


def at(version: int, *, owner: str | None = None, dirty: bool = False, epoch: int = 0,
       sharers: dict | None = None, aid: str = "x") -> ArtifactRecord:
    grant = None if owner is None else Grant(owner, epoch, 1.0, dirty)
    return ArtifactRecord(aid, version=version, epoch=epoch,
                          content=content(version) if version else DELETED, owner=grant,
                          sharers=sharers or {}, updated_by="w" if version else None)


def views(rec: ArtifactRecord, *agents: str) -> dict[str, str]:
    return {a: rec.view_of(a).value for a in agents}


# --- read --------------------------------------------------------------------------------------

def test_read_of_absent_artifact_is_a_miss_and_registers_the_reader_at_version_0():
    step = tr.read(None, "x", "a", None, NOW)
    view = step.reply
    assert (view.version, view.exists, view.modified, view.state) == (0, False, True, Mesi.SHARED)
    assert dict(step.artifacts["x"].sharers) == {"a": 0}
    assert step.events == []


def test_read_registers_sharer_and_reports_whether_the_known_copy_is_current():
    rec = at(3, sharers={"b": 2})
    step = tr.read(rec, "x", "a", None, NOW)
    assert step.reply.modified and step.reply.state is Mesi.SHARED and step.reply.version == 3
    new = step.artifacts["x"]
    assert dict(new.sharers) == {"a": 3, "b": 2}
    assert views(new, "a", "b") == {"a": "S", "b": "I"}  # b holds an old version: invalid
    assert not tr.read(rec, "x", "a", 3, NOW).reply.modified


@pytest.mark.parametrize("dirty, before", [(False, "E"), (True, "M")])
def test_peer_read_downgrades_owner_to_shared_with_a_downgrade_event(dirty, before):
    rec = at(2, owner="a", dirty=dirty)
    assert rec.view_of("a").value == before
    step = tr.read(rec, "x", "b", None, NOW)
    new = step.artifacts["x"]
    assert new.owner is None and views(new, "a", "b") == {"a": "S", "b": "S"}
    assert step.events == [Event("downgrade", "x", 2, 0, 1, "b", ("a",), "peer read")]
    assert new.seq == 1


def test_repeat_read_and_owner_read_change_nothing():
    rec = tr.read(at(2), "x", "a", None, NOW).artifacts["x"]
    again = tr.read(rec, "x", "a", 2, NOW)
    assert again.artifacts == {} and again.events == [] and not again.reply.modified
    owned = at(2, owner="a", dirty=True)
    own = tr.read(owned, "x", "a", 2, NOW)
    assert own.artifacts == {} and own.reply.state is Mesi.MODIFIED


# --- acquire -----------------------------------------------------------------------------------

def test_acquire_invalidates_every_sharer():
    rec = at(1, sharers={"a": 1, "b": 1, "c": 0})
    step = tr.acquire(rec, "x", "c", 0, NOW)
    new = step.artifacts["x"]
    assert views(new, "a", "b", "c") == {"a": "I", "b": "I", "c": "E"}
    assert step.reply.modified and step.reply.state is Mesi.EXCLUSIVE
    assert step.events == [Event("invalidate", "x", 1, 0, 1, "c", ("a", "b"), "acquire")]


def test_acquire_preempts_another_owner():
    step = tr.acquire(at(1, owner="a", dirty=True), "x", "b", 1, NOW)
    new = step.artifacts["x"]
    assert new.owner.agent == "b" and views(new, "a", "b") == {"a": "I", "b": "E"}
    assert step.events[0].targets == ("a",)


def test_acquire_by_the_owner_is_a_no_op_and_acquire_of_absent_creates_quietly():
    rec = at(1, owner="a")
    step = tr.acquire(rec, "x", "a", 1, NOW)
    assert step.artifacts == {} and step.events == [] and step.reply.state is Mesi.EXCLUSIVE
    fresh = tr.acquire(None, "y", "a", None, NOW)
    assert fresh.artifacts["y"].owner.agent == "a" and fresh.events == []


# --- commit (pessimistic) ----------------------------------------------------------------------

def test_commit_under_grant_bumps_version_and_makes_owner_modified():
    step = tr.commit(at(1, owner="a"), "x", "a", 0, 1, content(2), NOW, commit_id="c1")
    new = step.artifacts["x"]
    assert (new.version, new.content, new.updated_by) == (2, content(2), "a")
    assert views(new, "a") == {"a": "M"} and step.reply.version == 2 and not step.reply.duplicate
    assert step.events == [] and new.seq == 0  # nobody else held a copy


def test_commit_needs_a_grant_at_the_current_epoch():
    with pytest.raises(StaleEpoch) as e:
        tr.commit(at(1, owner="a", epoch=2), "x", "a", 1, 1, content(2), NOW)
    assert e.value.current_epoch == 2 and e.value.details["request_epoch"] == 1


def test_commit_after_preemption_or_downgrade_is_not_owner():
    preempted = tr.acquire(at(1, owner="a"), "x", "b", 1, NOW).artifacts["x"]
    with pytest.raises(NotOwner) as e:
        tr.commit(preempted, "x", "a", 0, 1, content(2), NOW)
    assert e.value.details["owner"] == "b" and e.value.current_version == 1
    downgraded = tr.read(at(1, owner="a"), "x", "b", None, NOW).artifacts["x"]
    with pytest.raises(NotOwner) as e:
        tr.commit(downgraded, "x", "a", 0, 1, content(2), NOW)
    assert e.value.details["owner"] is None
    with pytest.raises(NotOwner):
        tr.commit(None, "x", "a", 0, 0, content(1), NOW)


def test_commit_from_a_moved_version_is_stale_view():
    with pytest.raises(StaleView) as e:
        tr.commit(at(3, owner="a"), "x", "a", 0, 2, content(9), NOW)
    err = e.value
    assert (err.code, err.artifact, err.current_version) == ("stale_view", "x", 3)
    assert err.details == {"base_version": 2, "committed_by": "w"}


def test_commit_after_reclaim_is_grant_reclaimed_even_if_the_version_never_moved():
    reclaimed = lv.reclaim(at(1, owner="a"), "a", "no heartbeat", NOW)[0]
    assert reclaimed.version == 1 and reclaimed.epoch == 1
    with pytest.raises(GrantReclaimed) as e:
        tr.commit(reclaimed, "x", "a", 0, 1, content(2), NOW)
    assert e.value.details["reason"] == "no heartbeat" and e.value.current_epoch == 1


# --- write (acquire + commit) ------------------------------------------------------------------

def test_write_acquires_commits_and_invalidates_every_other_copy():
    step = tr.write(at(1, sharers={"b": 1, "c": 1}), "x", "a", 1, 0, content(2), NOW)
    new = step.artifacts["x"]
    assert new.version == 2 and views(new, "a", "b", "c") == {"a": "M", "b": "I", "c": "I"}
    assert step.events == [Event("invalidate", "x", 2, 0, 1, "a", ("b", "c"), "commit")]


def test_blind_write_lands_at_any_version():
    step = tr.write(at(7, owner="b"), "x", "a", None, None, content(8), NOW)
    assert step.artifacts["x"].version == 8 and step.artifacts["x"].owner.agent == "a"


def test_create_expecting_absent_lands_once_then_is_stale():
    created = tr.write(None, "x", "a", 0, None, content(1), NOW).artifacts["x"]
    assert created.version == 1 and created.exists
    with pytest.raises(StaleView) as e:
        tr.write(created, "x", "b", 0, None, content(1), NOW)
    assert e.value.current_version == 1


def test_write_is_fenced_by_epoch_and_a_moved_version_reports_stale_view():
    reclaimed = lv.reclaim(at(1, owner="a", sharers={}), "a", "ttl", NOW)[0]
    with pytest.raises(GrantReclaimed):
        tr.write(reclaimed, "x", "a", 1, 0, content(2), NOW)
    with pytest.raises(StaleEpoch):
        tr.write(reclaimed, "x", "b", 1, 0, content(2), NOW)
    moved = tr.write(reclaimed, "x", "c", 1, 1, content(2), NOW).artifacts["x"]
    with pytest.raises(StaleView):  # old epoch and moved version: the version is the clearer news
        tr.write(moved, "x", "b", 1, 0, content(3), NOW)
    with pytest.raises(GrantReclaimed):  # ... except for the agent whose grant was reclaimed
        tr.write(moved, "x", "a", 1, 0, content(3), NOW)


# --- commit_cas --------------------------------------------------------------------------------

def test_exactly_one_of_two_racing_cas_wins_and_the_loser_learns_the_current_version():
    rec = at(1, sharers={"a": 1, "b": 1})
    first = tr.commit_cas(rec, "x", "a", 1, 0, content(10), NOW)
    won = first.artifacts["x"]
    with pytest.raises(VersionConflict) as e:
        tr.commit_cas(won, "x", "b", 1, 0, content(11), NOW)
    err = e.value
    assert (err.code, err.current_version, err.current_epoch) == ("version_conflict", 2, 0)
    assert err.details == {"expected_version": 1, "current_digest": "digest-10"}
    assert views(won, "a", "b") == {"a": "S", "b": "I"} and won.owner is None


def test_cas_by_a_peer_takes_the_grant_away_and_a_stale_read_epoch_is_fenced():
    new = tr.commit_cas(at(1, owner="a"), "x", "b", 1, None, content(2), NOW).artifacts["x"]
    assert new.owner is None and views(new, "a", "b") == {"a": "I", "b": "S"}
    with pytest.raises(StaleEpoch):
        tr.commit_cas(at(1, epoch=3), "x", "b", 1, 2, content(2), NOW)


# --- release / evict ---------------------------------------------------------------------------

def test_release_keeps_a_shared_copy_and_evict_drops_it():
    released = tr.release(at(2, owner="a", dirty=True), "a").artifacts["x"]
    assert released.owner is None and views(released, "a") == {"a": "S"}
    assert tr.release(released, "b").artifacts == {}
    evicted = tr.evict(released, "a").artifacts["x"]
    assert views(evicted, "a") == {"a": "I"} and "a" not in evicted.sharers
    assert tr.evict(at(2, owner="a"), "a").artifacts["x"].owner is None
    assert tr.evict(evicted, "a").artifacts == {} and tr.evict(None, "a").artifacts == {}


# --- transaction_commit ------------------------------------------------------------------------

def test_transaction_is_all_or_nothing_and_reports_every_conflict():
    recs = {"x": at(1, aid="x"), "y": at(2, aid="y"), "z": at(1, epoch=1, aid="z")}
    reads = {"x": (1, 0), "y": (1, 0), "z": (1, 0)}
    with pytest.raises(TransactionConflict) as e:
        tr.transaction_commit(recs, "a", reads, {"x": content(5), "w": content(6)}, NOW)
    conflicts = e.value.details["conflicts"]
    assert [c["artifact"] for c in conflicts] == ["y", "z"]
    assert conflicts[0]["current_version"] == 2 and conflicts[1]["current_epoch"] == 1
    assert e.value.artifact == "y"


def test_transaction_applies_every_write_when_the_read_set_is_current():
    recs = {"x": at(1, aid="x", sharers={"b": 1}), "y": None}
    step = tr.transaction_commit(recs, "a", {"x": (1, 0), "y": (0, None)},
                                 {"x": content(5), "y": content(6)}, NOW)
    assert isinstance(step.reply, TxnCommitted)
    assert {a: c.version for a, c in step.reply.versions.items()} == {"x": 2, "y": 1}
    assert views(step.artifacts["x"], "a", "b") == {"a": "S", "b": "I"}
    assert [e.targets for e in step.events] == [("b",)]


def test_transaction_read_set_checks_the_epoch():
    reclaimed = lv.reclaim(at(1, owner="b", aid="x"), "b", "ttl", NOW)[0]
    with pytest.raises(TransactionConflict):
        tr.transaction_commit({"x": reclaimed, "y": None}, "a", {"x": (1, 0)}, {"y": content(1)}, NOW)


# --- liveness and crash recovery ---------------------------------------------------------------

def test_heartbeat_extends_liveness_and_keeps_what_it_owns():
    rec = lv.heartbeat(None, "a", 5.0, NOW)
    assert rec == AgentRecord("a", NOW + 5.0, 5.0)
    later = lv.heartbeat(AgentRecord("a", NOW, 5.0, frozenset({"x"}), 3), "a", 5.0, NOW + 3)
    assert later == AgentRecord("a", NOW + 8, 5.0, frozenset({"x"}), 3)
    assert not later.expired(NOW + 8) and later.expired(NOW + 8.001)


def test_sweep_reclaims_a_dead_agents_grant_and_advances_the_epoch_with_a_reason():
    agent = AgentRecord("a", NOW - 2, 5.0, frozenset({"x", "y", "gone"}))
    arts = {"x": at(3, owner="a", aid="x"), "y": at(1, aid="y", sharers={"a": 1, "b": 1}), "gone": None}
    step = lv.sweep_agent(agent, arts, NOW)
    x = step.artifacts["x"]
    assert (x.version, x.epoch, x.owner, x.seq) == (3, 1, None, 1)
    assert x.last_reclaim.agent == "a" and x.last_reclaim.fenced_epoch == 0
    assert "no heartbeat from a" in x.last_reclaim.reason and "ttl 5s" in x.last_reclaim.reason
    # The reclaimed owner keeps a registered copy (so later commits still invalidate it, should
    # it be alive after all); an artifact it only shared is not touched.
    assert dict(x.sharers) == {"a": 3} and x.view_of("a") is Mesi.SHARED
    assert "y" not in step.artifacts
    assert [(n.artifact, n.fenced_epoch, n.new_epoch) for n in step.reply] == [("x", 0, 1)]
    assert step.agents == {"a": None}


def test_sweep_keeps_listing_owned_artifacts_it_did_not_lock():
    """A record of the previous layout lists z, which the sweep did not lock: it stays listed."""
    agent = AgentRecord("a", NOW - 2, 5.0, frozenset({"x", "z"}))
    step = lv.sweep_agent(agent, {"x": at(3, owner="a", aid="x")}, NOW)
    assert [n.artifact for n in step.reply] == ["x"]
    left = step.agents["a"]
    assert left.owned == {"z"} and left.expired(NOW)
    assert [(e.kind, e.targets, e.epoch) for e in step.events] == [("reclaim", ("a",), 1)]


def test_sweep_never_touches_a_live_agent():
    agent = AgentRecord("a", NOW, 5.0, frozenset({"x"}))
    step = lv.sweep_agent(agent, {"x": at(1, owner="a")}, NOW)
    assert step.reply == [] and step.artifacts == {} and step.agents == {}
    assert lv.sweep_agent(None, {}, NOW).reply == []
    untouched = at(1, owner="b")
    assert lv.reclaim(untouched, "a", "ttl", NOW) == (untouched, None, None)


# --- idempotency and event order ---------------------------------------------------------------

def test_a_retried_commit_id_is_applied_once_and_replies_duplicate():
    first = tr.write(None, "x", "a", 0, None, content(1), NOW, commit_id="c1").artifacts["x"]
    peer = tr.write(first, "x", "b", 1, 0, content(2), NOW).artifacts["x"]
    for retry in (
        tr.write(peer, "x", "a", 0, None, content(1), NOW, commit_id="c1"),
        tr.commit(peer, "x", "a", 0, 0, content(1), NOW, commit_id="c1"),
        tr.commit_cas(peer, "x", "a", 0, None, content(1), NOW, commit_id="c1"),
    ):
        assert retry.reply.duplicate and retry.reply.version == 1
        assert retry.artifacts == {} and retry.events == []
    txn = tr.transaction_commit({"x": peer}, "a", {"x": (0, None)}, {"x": content(1)}, NOW,
                                commit_id="c1")
    assert txn.reply.duplicate and txn.artifacts == {}


def test_event_seq_is_contiguous_per_artifact():
    rec, events = None, []
    script = [
        lambda r: tr.read(r, "x", "b", None, NOW),
        lambda r: tr.acquire(r, "x", "a", None, NOW),
        lambda r: tr.read(r, "x", "b", None, NOW),
        lambda r: tr.write(r, "x", "a", 0, 0, content(1), NOW),
        lambda r: tr.commit_cas(r, "x", "b", 1, None, content(2), NOW),
        lambda r: tr.acquire(r, "x", "a", None, NOW),
        lambda r: lv.reclaim(r, "a", "ttl", NOW),
        lambda r: tr.transaction_commit({"x": r}, "c", {"x": (2, 1)}, {"x": content(3)}, NOW),
    ]
    for op in script:
        out = op(rec)
        if isinstance(out, tuple):
            rec, event, _ = out
            events.extend([event] if event else [])
        else:
            rec = out.artifacts.get("x", rec)
            events.extend(out.events)
    assert [e.seq for e in events] == list(range(1, len(events) + 1)) and rec.seq == len(events)
    # the last invalidation reaches "a": a reclaimed owner keeps a registered copy
    assert [e.kind for e in events] == ["invalidate", "downgrade", "invalidate", "invalidate",
                                        "invalidate", "reclaim", "invalidate"]
    assert events[-1].targets == ("a",)


# --- serialization -----------------------------------------------------------------------------

def test_records_and_events_round_trip_through_json():
    rec = ArtifactRecord(
        "plan.md", version=4, epoch=2, seq=9, content=content(4), owner=Grant("a", 2, 1.5, True),
        sharers={"b": 3}, history=((3, "digest-3"),), commits=(("c4", 4, 1),),
        last_reclaim=Reclaim("z", 1, "no heartbeat", 9.0), updated_at=3.0, updated_by="a")
    assert ArtifactRecord.from_dict(json.loads(json.dumps(rec.to_dict()))) == rec
    agent = AgentRecord("a", 12.5, 5.0, frozenset({"x", "y"}))
    assert AgentRecord.from_dict(json.loads(json.dumps(agent.to_dict()))) == agent
    event = Event("reclaim", "x", 1, 2, 3, None, ("a",), "ttl")
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event


@pytest.mark.parametrize("cls", sorted(ERRORS_BY_CODE.values(), key=lambda c: c.code),
                         ids=lambda c: c.code)
def test_every_error_round_trips_through_json(cls):
    err = cls("it moved", artifact="plan.md", current_version=7, current_epoch=1, base_version=6)
    back = CoherenceError.from_dict(json.loads(err.to_json()))
    assert type(back) is cls and isinstance(back, CoherenceError)
    assert (back.code, back.artifact, back.current_version, back.current_epoch) == \
        (cls.code, "plan.md", 7, 1)
    assert back.recover == err.recover and back.details == {"base_version": 6}
    if cls not in (CoherenceError, ConflictError, StateError):
        assert err.recover, f"{cls.__name__} has no recover hint"
    assert len({c.code for c in ERRORS_BY_CODE.values()}) == len(ERRORS_BY_CODE)
