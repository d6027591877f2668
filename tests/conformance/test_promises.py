"""The promises of DESIGN.md, each checked against every engine (memory, sqlite, postgres, redis).

Two cores on one store stand for two processes (or two hosts): each has its own coordinator, its
own connections and its own agents' caches; only the engine is shared.
"""

from __future__ import annotations

import threading

import pytest

from ccs import (
    CrashRecoveryConfig,
    GrantReclaimed,
    ManualClock,
    Mesi,
    StaleEpoch,
    StaleView,
    TransactionConflict,
    VersionConflict,
)
from ccs.history import Recorder, cas_winners, check, lost_updates, successful_commits, workload

THREADS = 4
THREAD_OPS = 15  # increments per thread, each with bounded retries


def test_stale_write_is_refused_not_applied(store):
    a, b = store.core().agent("a"), store.core().agent("b")
    a.write("plan", "v1")
    assert b.read("plan") == "v1"
    a.write("plan", "v2 by a")
    with pytest.raises(StaleView) as refused:
        b.write("plan", "v1 + b's edit")  # derived from v1: must not land
    assert refused.value.current_version == 2
    assert store.core().agent("auditor").read("plan") == "v2 by a"
    assert b.reacquire("plan") == "v2 by a"
    assert b.write("plan", "v2 + b's edit") == 3


def test_create_race_has_one_winner(store):
    a, b = store.core().agent("a"), store.core().agent("b")
    assert a.read("new", None) is None and b.read("new", None) is None
    a.write("new", "a")
    with pytest.raises(StaleView):
        b.write("new", "b")  # b expected the artifact absent
    assert store.core().agent("c").read("new") == "a"


def test_threads_incrementing_lose_nothing(store):
    rec = Recorder()
    cores = [store.core() for _ in range(THREADS)]
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        agent = cores[i].agent(f"t{i}")
        try:
            start.wait(30)
            steps = (workload.increment, workload.cas_increment, workload.write_cas_increment)
            for n in range(THREAD_OPS):
                steps[(n + i) % 3](agent, rec, "counter")
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    final = workload.read(store.core().agent("auditor"), rec, "counter")
    ops = rec.ops()
    assert final.value == final.version == len(successful_commits(ops, "counter"))
    assert lost_updates(ops, final={"counter": (final.version, final.value)}) == []
    assert all(len(w) <= 1 for w in cas_winners(ops).values())
    assert check(ops, budget=20).result == "ok"


def cas_race(agents, artifact: str, version: int, label: str) -> list[object]:
    """Every agent commits at ``version`` at once; each one's new version or its conflict."""
    start = threading.Barrier(len(agents))
    outcomes: list[object] = [None] * len(agents)

    def race(i: int) -> None:
        start.wait(30)
        try:
            outcomes[i] = agents[i].commit_cas(artifact, version, f"{label} by {agents[i].name}")
        except VersionConflict as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(agents))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_one_winner_per_cas_race(store):
    racers = 5
    agents = [store.core().agent(f"r{i}") for i in range(racers)]
    agents[0].write("slot", 0)
    for round_ in range(3):
        version = agents[0].read_with_version("slot").version
        for a in agents:
            a.read_with_version("slot")
        outcomes = cas_race(agents, "slot", version, f"round {round_}")
        winners = [o for o in outcomes if isinstance(o, int)]
        losers = [o for o in outcomes if isinstance(o, VersionConflict)]
        assert winners == [version + 1], outcomes
        assert len(losers) == racers - 1
        assert all(e.current_version == version + 1 for e in losers)


def test_reclaimed_writer_is_fenced_by_the_store(store):
    clock = ManualClock()
    cr = CrashRecoveryConfig(heartbeat_ttl=10, sweep_interval=1)
    paused = store.core(clock=clock, crash_recovery=cr).agent("paused")
    paused.write("lease", "mine")
    paused.acquire("lease")
    assert paused.state("lease") in (Mesi.EXCLUSIVE, Mesi.MODIFIED)
    clock.advance(11)  # the paused writer misses its heartbeats
    other = store.core(clock=clock, crash_recovery=cr)
    notes = other.sweep()
    assert [(n.agent, n.artifact, n.new_epoch) for n in notes] == [(paused.id, "lease", 1)]
    assert "no heartbeat" in notes[0].reason
    with pytest.raises(GrantReclaimed) as fenced:
        paused.commit("lease", "late write under the old grant")
    assert fenced.value.current_epoch == 1
    with pytest.raises((GrantReclaimed, StaleEpoch)):
        paused.write("lease", "late write from the old view")
    assert other.agent("reader").read("lease") == "mine"
    assert store.core(clock=clock, crash_recovery=cr).coordinator.artifact("lease").epoch == 1


def test_crash_recovery_lets_others_continue(store):
    clock = ManualClock()
    cr = CrashRecoveryConfig(heartbeat_ttl=5, sweep_interval=1)
    crashed_core = store.core(clock=clock, crash_recovery=cr)
    crashed = crashed_core.agent("crashed")
    crashed.write("doc", "half done")
    crashed_core.close()  # the process dies holding the grant
    survivor_core = store.core(clock=clock, crash_recovery=cr)
    clock.advance(6)
    survivor = survivor_core.agent("survivor")
    assert survivor.read("doc") == "half done"  # this operation runs the sweep
    coord = survivor_core.coordinator
    record = coord.artifact("doc")
    assert record.owner is None and record.epoch == 1
    assert record.last_reclaim.agent == crashed.id
    assert "no heartbeat from crashed " in record.last_reclaim.reason
    assert survivor.write("doc", "finished") == 2
    assert coord.backend.get(f"g/{crashed.id}") is None


def test_read_set_transaction_is_all_or_nothing(store):
    a, b = store.core().agent("a"), store.core().agent("b")
    a.write("x", 1)
    a.write("y", 2)
    txn = b.transaction()
    total = txn.read("x") + txn.read("y")
    a.write("y", 20)  # moves an artifact the transaction only read
    txn.write("sum", total)
    txn.write("log", "summed")
    with pytest.raises(TransactionConflict) as conflict:
        txn.commit()
    assert [c["artifact"] for c in conflict.value.details["conflicts"]] == ["y"]
    c = store.core().agent("c")
    assert c.read("sum", None) is None and c.read("log", None) is None
    with b.transaction() as txn:
        txn.write("sum", txn.read("x") + txn.read("y"))
        txn.write("log", "summed again")
    fresh = c.read_with_version  # c's cached "absent" may not have heard the commit yet
    assert (fresh("sum").value, fresh("log").value) == (21, "summed again")


def test_not_modified_revalidation_moves_no_content(store):
    a, b = store.core().agent("a"), store.core().agent("b")
    big = "x" * 200_000
    version = a.write("big", big)
    assert b.read("big") == big
    fetched = b.stats.bytes_fetched
    assert fetched >= len(big)
    for _ in range(3):
        assert b.read_with_version("big").version == version  # asks the store each time
        assert b.read("big") == big  # served from the cache
    assert b.stats.bytes_fetched == fetched and b.stats.not_modified == 3 and b.stats.hits >= 3
    view, data = store.coordinator().read("b", "big", known_version=version)
    assert (view.modified, data) == (False, None)
    view, data = store.coordinator().read("b", "big", known_version=version - 1)
    assert view.modified and data == big.encode()


def test_commit_ids_make_retries_idempotent(store):
    coord = store.coordinator()
    first = coord.write("a", "doc", 0, None, (b"one", "bytes"), commit_id="c-1")
    again = coord.write("a", "doc", 0, None, (b"one", "bytes"), commit_id="c-1")
    assert (first.version, first.duplicate, again.version, again.duplicate) == (1, False, 1, True)
    cas = coord.commit_cas("b", "doc", 1, None, (b"two", "bytes"), commit_id="c-2")
    cas_again = store.coordinator().commit_cas("b", "doc", 1, None, (b"two", "bytes"), commit_id="c-2")
    assert (cas.version, cas_again.version, cas_again.duplicate) == (2, 2, True)
    writes = {"p": (b"p", "bytes"), "q": (b"q", "bytes")}
    txn = coord.transaction_commit("c", {}, writes, commit_id="c-3")
    txn_again = coord.transaction_commit("c", {}, writes, commit_id="c-3")
    assert txn_again.duplicate and {k: v.version for k, v in txn.versions.items()} == {"p": 1, "q": 1}
    assert coord.artifact("doc").version == 2 and coord.artifact("p").version == 1
