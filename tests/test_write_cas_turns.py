"""``write_cas`` calls of one process on one artifact take turns (``ccs.client.turns``).

Real threads. The compare-and-set still decides every commit; turns only keep this process's own
attempts from refusing each other. Histories are checked: nothing lost, one winner per version,
linearizable. No timing assertions: waits are bounded (``JOIN``) so a bug fails instead of hanging.
"""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from ccs import CoherenceAdapterCore, RetriesExhausted
from ccs.client import turns
from ccs.history import Recorder, cas_winners, check, lost_updates, successful_commits, workload
from thread_runner import run_threads

JOIN = 30.0


@pytest.fixture
def core():
    with CoherenceAdapterCore(engine="memory://", strategy="lazy") as c:
        yield c


def test_threads_of_one_process_take_turns_and_never_refuse_each_other(core, monkeypatch):
    """Four threads increment one counter with the peer's policy (3 retries, no backoff): with
    turns (and a wait long enough that nobody goes ahead without one) no attempt is refused, every
    call lands, and the history is the counter's: versions v0+1 .. v0+N, each returned once."""
    monkeypatch.setattr(turns, "WAIT", 60.0)
    core.agent("init").write("counter", "0")
    v0 = core.agent("chk").read_with_version("counter").version
    calls, per = 300, {}
    start = threading.Barrier(4)

    def worker(name):
        agent = core.agent(name)
        got = per[name] = {"versions": [], "attempts": 0}

        def inc(s):
            got["attempts"] += 1
            return str(int(s) + 1)

        start.wait(JOIN)
        for _ in range(calls):
            got["versions"].append(agent.write_cas("counter", inc, retries=3, backoff=0.0))

    run_threads((lambda n=f"t{k}": worker(n) for k in range(4)), JOIN)
    versions = sorted(v for p in per.values() for v in p["versions"])
    assert versions == list(range(v0 + 1, v0 + 4 * calls + 1))
    assert sum(p["attempts"] for p in per.values()) == 4 * calls  # not one refused attempt
    final = core.agent("chk").read_with_version("counter")
    assert final.value == str(4 * calls) and final.version == v0 + 4 * calls
    assert [e.version for e in core.coordinator.audit("counter")][-3:] == versions[-3:]


def test_turns_mixed_with_racing_writes_keep_the_history_linearizable(core):
    """write_cas (turns) races plain checked writes and commit_cas (no turns): refusals happen,
    nothing is lost, one winner per version, and the history checks."""
    rec = Recorder()
    start = threading.Barrier(6)
    steps = (workload.write_cas_increment, workload.increment, workload.write_cas_increment,
             workload.cas_increment)

    def client(i):
        agent = core.agent(f"w{i}")
        start.wait(JOIN)
        for n in range(40):
            steps[(n + i) % len(steps)](agent, rec, "counter")

    run_threads((lambda i=i: client(i) for i in range(6)), JOIN)
    final = workload.read(core.agent("auditor"), rec, "counter")
    ops = rec.ops()
    assert final.value == final.version == len(successful_commits(ops, "counter"))
    assert lost_updates(ops, final={"counter": (final.version, final.value)}) == []
    assert all(len(w) <= 1 for w in cas_winners(ops).values())
    result = check(ops, budget=20)
    assert result.result == "ok", result


def test_write_cas_nested_in_fn_on_the_same_artifact_does_not_wait(core, monkeypatch):
    """The holder's own fn calls write_cas on the artifact: it runs at once (no wait for a turn
    its own thread holds); the outer attempt is then refused and re-derived, as before turns."""
    monkeypatch.setattr(turns, "WAIT", 60.0)
    agent = core.agent("a")
    agent.write("doc", "x")
    seen = []

    def outer(old):
        seen.append(old)
        if len(seen) == 1:
            assert agent.write_cas("doc", lambda s: s + "-inner") == 2
        return old + "-outer"

    run_threads([lambda: seen.append(agent.write_cas("doc", outer, retries=2))], JOIN)
    assert seen == ["x", "x-inner", 3]
    assert agent.read("doc") == "x-inner-outer"


def test_a_fn_that_waits_for_another_threads_write_cas_cannot_deadlock(core, monkeypatch):
    """The holder's fn waits for a second thread's write_cas on the same artifact: that thread
    waits at most WAIT for the turn, then goes ahead without it; its commit lands, the holder's is
    refused, re-derived and lands."""
    monkeypatch.setattr(turns, "WAIT", 0.01)
    a, b = core.agent("a"), core.agent("b")
    a.write("doc", "0")
    b.read("doc")
    results = {}

    def helper():
        results["b"] = b.write_cas("doc", lambda s: str(int(s) + 10))

    def outer(old):
        if "b" not in results:
            t = threading.Thread(target=helper)
            t.start()
            t.join(JOIN)
        return str(int(old) + 1)

    run_threads([lambda: results.setdefault("a", a.write_cas("doc", outer, retries=2))], JOIN)
    assert results == {"b": 2, "a": 3}
    assert core.agent("chk").read("doc") == "11"


def test_a_fn_that_raises_gives_the_turn_back(core, monkeypatch):
    monkeypatch.setattr(turns, "WAIT", 60.0)
    a = core.agent("a")
    a.write("doc", "1")

    def boom(_old):
        raise ValueError("fn failed")

    with pytest.raises(ValueError):
        a.write_cas("doc", boom)
    t = core._turns["doc"]
    assert not t.lock.locked() and t.owner == 0 and not t.waiting
    # would wait 60 s if the turn were still held
    run_threads([lambda: core.agent("b").write_cas("doc", lambda s: s + "2")], JOIN)
    assert a.read("doc") == "12"


def test_exhausted_retries_are_still_typed_and_give_the_turn_back(core):
    """Refused every time by a writer that turns do not order (a plain write, made inside fn):
    RetriesExhausted as before, and the turn is free afterwards."""
    a, b = core.agent("a"), core.agent("b")
    a.write("doc", "0")
    b.read("doc")

    def moved_underneath(old):
        b.write("doc", old + "b")
        return old + "a"

    with pytest.raises(RetriesExhausted) as info:
        a.write_cas("doc", moved_underneath, retries=2)
    assert info.value.details["attempts"] == 3
    assert not core._turns["doc"].lock.locked() and core._turns["doc"].owner == 0


def test_a_waiter_is_handed_the_turn_after_a_slice(monkeypatch):
    monkeypatch.setattr(turns, "SLICE", 0.0)
    monkeypatch.setattr(turns, "WAIT", 60.0)
    t = turns.Turn()
    me = threading.get_ident()
    assert t.lock.acquire(False)
    t.owner = me
    got = {}

    def waiter():
        got["mine"] = turns.wait(t, threading.get_ident())
        got["owner_is_me"] = t.owner == threading.get_ident()
        turns.leave(t)

    th = threading.Thread(target=waiter)
    th.start()
    while not t.waiting and th.is_alive():
        th.join(0.001)
    turns.leave(t)  # waited >= SLICE (0): handed over, the lock never free in between
    th.join(JOIN)
    assert got == {"mine": True, "owner_is_me": True}
    assert not t.lock.locked() and t.owner == 0 and not t.waiting


def test_a_holder_leaving_early_wakes_a_waiter_to_take_the_free_turn(monkeypatch):
    monkeypatch.setattr(turns, "SLICE", 60.0)  # never handed over: the waiter must be woken
    monkeypatch.setattr(turns, "WAIT", 60.0)
    t = turns.Turn()
    assert t.lock.acquire(False)
    t.owner = threading.get_ident()
    got = {}

    def waiter():
        got["mine"] = turns.wait(t, threading.get_ident())
        turns.leave(t)

    th = threading.Thread(target=waiter)
    th.start()
    while not t.waiting and th.is_alive():
        th.join(0.001)
    turns.leave(t)
    th.join(JOIN)
    assert got == {"mine": True} and not t.lock.locked() and not t.waiting


def test_an_interrupted_waiter_passes_on_a_turn_handed_to_it():
    t = turns.Turn()
    me = threading.get_ident()
    assert t.lock.acquire(False)
    w = turns._Waiter(me, 0.0)
    t.owner, w.handed = me, True  # handed over (popped), then the wait was interrupted
    turns._abandon(t, w)
    assert not t.lock.locked() and t.owner == 0 and not t.waiting


def _child_write_cas(core, conn):
    conn.send(core.agent("child").write_cas("doc", lambda s: s + "c", retries=0))


def test_a_forked_child_does_not_inherit_a_turn_taken_in_the_parent(monkeypatch):
    """A parent thread holds the turn while the process forks: in the child that thread does
    not exist, so the turn must not be taken there (the child would wait WAIT on every call)."""
    monkeypatch.setattr(turns, "WAIT", 600.0)
    with CoherenceAdapterCore("memory://") as core:
        core.agent("a").write("doc", "p")
        held, release = threading.Event(), threading.Event()

        def hold(old):
            held.set()
            release.wait(JOIN)
            return old + "a"

        th = threading.Thread(target=lambda: core.agent("a").write_cas("doc", hold))
        th.start()
        assert held.wait(JOIN)
        ctx = multiprocessing.get_context("fork")
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_child_write_cas, args=(core, there))
        try:
            proc.start()
            assert here.poll(JOIN), "the child waited for a turn its parent's thread held"
            assert here.recv() == 2
            proc.join(JOIN)
        finally:
            if proc.is_alive():
                proc.kill()
            release.set()
            th.join(JOIN)
        assert proc.exitcode == 0
