"""The observer interface: one event per operation, whatever its outcome; observers never break
an operation; nothing is reported (or built) when none is registered."""

import logging

import pytest

from ccs import CoherenceAdapterCore, StaleView, VersionConflict
from ccs.observe import HIT, MISS, REVALIDATED, ObservedOp, Observer


class Recorder:
    def __init__(self):
        self.events: list[ObservedOp] = []

    def on_event(self, event):
        self.events.append(event)


class Broken:
    def on_event(self, event):
        raise RuntimeError("observer bug")


def test_every_operation_reports_once_with_its_outcome(core):
    rec = Recorder()
    assert isinstance(rec, Observer)
    core.observers.append(rec)
    a, b = core.agent("a"), core.agent("b")
    a.write("doc", "one")
    a.read("doc")  # hit
    b.read("doc")  # miss
    b.read_with_version("doc")  # revalidated
    a.write("doc", "two")
    with pytest.raises(StaleView):
        b.write("doc", "from one")
    with pytest.raises(VersionConflict):
        b.commit_cas("doc", 1, "cas from one")
    with b.transaction() as txn:
        txn.write("x", 1)
        txn.write("y", 2)
    ops = [(e.operation, e.outcome, e.cache, e.error_code) for e in rec.events]
    assert ops == [
        ("write", "ok", None, None), ("read", "ok", HIT, None), ("read", "ok", MISS, None),
        ("read", "ok", REVALIDATED, None), ("write", "ok", None, None),
        ("write", "refused", None, "stale_view"), ("commit_cas", "refused", None, "version_conflict"),
        ("transaction", "ok", None, None),
    ]
    first, hit, miss = rec.events[:3]
    assert (first.agent_name, first.agent, first.base_version, first.version) == ("a", a.id, 0, 1)
    assert first.bytes_out == 3 and first.duration_s >= 0 and first.start_ns > 0
    assert hit.duration_s is None and hit.bytes_moved == 0 and hit.version == 1
    assert miss.bytes_in == 3 and miss.agent_name == "b"
    second = rec.events[4]
    assert second.invalidations == 1  # b held a copy
    refused = rec.events[5]
    assert (refused.base_version, refused.current_version, refused.version) == (1, 2, None)
    txn = rec.events[-1]
    assert txn.artifacts == ("x", "y") and txn.extra["written"] == {"x": 1, "y": 1}


def test_a_failing_observer_never_breaks_an_operation(core, caplog):
    rec = Recorder()
    core.observers.extend([Broken(), rec])
    with caplog.at_level(logging.ERROR, logger="ccs.observe"):
        assert core.agent("a").write("doc", "x") == 1
        assert core.agent("a").read("doc") == "x"
    assert [e.operation for e in rec.events] == ["write", "read"]  # later observers still called
    assert "observer bug" in caplog.text


def test_errors_are_reported_and_reraised(core):
    rec = Recorder()
    core.observers.append(rec)
    with pytest.raises(Exception) as info:
        core.coordinator.read("a@x", "")
    assert rec.events[-1].outcome == "error"
    assert rec.events[-1].error_code == getattr(info.value, "code", type(info.value).__name__)


def test_no_observer_no_event(core, monkeypatch):
    import ccs.observe.hooks as hooks

    monkeypatch.setattr(hooks, "_run_observed", lambda *a, **k: pytest.fail("observed path taken"))
    monkeypatch.setattr("ccs.client.agent.dispatch", lambda *a: pytest.fail("hit dispatched"))
    a = core.agent("a")
    a.write("doc", "x")
    a.read("doc")
    core.agent("b").read("doc")


def test_two_cores_on_one_coordinator_share_observers(core):
    other = CoherenceAdapterCore(coordinator=core.coordinator)
    assert other.observers is core.observers
