"""Retention of the effect outbox on every engine: ``prune_effects`` deletes done records past a
horizon and nothing else, so a key runs again only once its record is older than the horizon,
even when a prune and a run of the same key race."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from ccs import failpoints
from ccs.coordinator.clock import ManualClock
from ccs.coordinator.config import CrashRecoveryConfig
from ccs.protocol.errors import InvalidArgument

HORIZON = 60.0


class Calls:
    """A side effect that counts its runs per key (thread-safe)."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, key, payload):
        with self._lock:
            self.runs[key] += 1
            return self.runs[key]


def core(store, clock):
    """A core on the test's clock; moving it past the horizon must not presume agents dead."""
    return store.core(clock=clock, crash_recovery=CrashRecoveryConfig(enabled=False))


def gated_run(agent, calls, key):
    with agent.effect(depends_on=["plan"]) as e:
        return e.run(calls, {"n": 1}, key=key, name="calls"), e.replayed


def test_prune_removes_only_done_records_past_the_horizon(store):
    clock = ManualClock()
    a = core(store, clock).agent("mailer")
    a.write("plan", "ship it")
    calls = Calls()
    with pytest.raises(ZeroDivisionError), a.effect(depends_on=["plan"]) as e:
        e.run(lambda key, p: 1 / 0, {"n": 1}, key="stuck", name="calls")
    assert gated_run(a, calls, "old") == (1, False)
    clock.advance(HORIZON + 1)
    assert gated_run(a, calls, "recent") == (1, False)

    # another process applies the retention: only the done record past the horizon goes
    other = core(store, clock).agent("janitor")
    assert other.prune_effects(older_than=HORIZON) == ["old"]
    assert other.prune_effects(older_than=HORIZON) == []
    assert sorted(r.artifact_id for r in other.coordinator.artifacts("ccs::")) == \
        ["ccs::outbox/recent", "ccs::outbox/stuck"]
    # a done key within the horizon still returns its recorded result without running
    assert gated_run(a, calls, "recent") == (1, True)
    # the pruned key is forgotten: a repeat runs again
    assert gated_run(a, calls, "old") == (2, False)
    assert calls.runs == {"old": 2, "recent": 1}

    # however old, a pending record is what recovery needs: it is never pruned
    clock.advance(10 * HORIZON)
    assert other.prune_effects(older_than=0) == ["old", "recent"]
    assert [p.key for p in a.pending_effects()] == ["stuck"]
    assert [d.key for d in a.resume_effects({"calls": calls})] == ["stuck"]
    assert calls.runs["stuck"] == 1
    for key, times in (("old", 2), ("recent", 1)):  # each removal is in the key's audit log
        log = other.coordinator.backend.audit(f"ccs::outbox/{key}")
        assert [(e.outcome, e.version, e.agent_name) for e in log if e.op == "prune"] == \
            [("deleted", 2, "janitor")] * times


def test_prune_rechecks_each_record_in_its_own_transaction(store):
    """The interleaving a listing-then-delete prune gets wrong, forced with a failpoint: after
    the prune listed an old done record and before it deletes it, a peer prunes it and the key
    runs again. The record now is the new run's, within the horizon: it must stay, so a repeat
    does not run a third time."""
    clock = ManualClock()
    a, peer = core(store, clock).agent("mailer"), core(store, clock).agent("peer")
    a.write("plan", "v1")
    peer.read("plan")
    calls = Calls()
    gated_run(a, calls, "k")
    clock.advance(HORIZON + 1)

    def peer_prunes_and_reruns(**_):
        assert peer.prune_effects(older_than=HORIZON) == ["k"]
        assert gated_run(peer, calls, "k") == (2, False)

    with failpoints.arm("coordinator.before_transact", peer_prunes_and_reruns, times=1):
        assert a.prune_effects(older_than=HORIZON) == []
    assert gated_run(a, calls, "k") == (2, True)
    assert calls.runs["k"] == 2


def test_prune_racing_runs_of_the_same_keys_never_runs_a_key_twice_within_the_horizon(store):
    """Real threads: keys done once, then past the horizon; two prunes race a repeat of every
    key. A repeat runs only if the old record was pruned first (else it replays), a record of a
    repeat that ran (within the horizon) survives every prune, and nothing is left pending."""
    clock = ManualClock()
    keys = [f"k{i}" for i in range(12)]
    a = core(store, clock).agent("mailer")
    a.write("plan", "v1")
    calls = Calls()
    for k in keys:
        gated_run(a, calls, k)
    clock.advance(HORIZON + 1)
    errors: list[BaseException] = []
    pruned: Counter[str] = Counter()
    replayed: dict[str, bool] = {}
    start = threading.Barrier(4)

    def pruner():
        agent = core(store, clock).agent("janitor")
        start.wait()
        for _ in range(3):
            pruned.update(agent.prune_effects(older_than=HORIZON))

    def runner(order):  # one runner per key: two concurrent runs of a pending key both call it
        agent = core(store, clock).agent("mailer")
        agent.read("plan")
        start.wait()
        for k in order:
            replayed[k] = gated_run(agent, calls, k)[1]

    def guarded(fn, *args):
        try:
            fn(*args)
        except BaseException as exc:  # reported below
            errors.append(exc)

    last_pruned_first = sorted(keys, reverse=True)  # a prune goes through them in key order
    threads = [threading.Thread(target=guarded, args=(pruner,)),
               threading.Thread(target=guarded, args=(pruner,)),
               threading.Thread(target=guarded, args=(runner, last_pruned_first[0::2])),
               threading.Thread(target=guarded, args=(runner, last_pruned_first[1::2]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads) and errors == []
    kept = {r.artifact_id.removeprefix("ccs::outbox/")
            for r in a.coordinator.artifacts("ccs::outbox/")}
    for k in keys:
        ran_again = not replayed[k]
        assert pruned[k] <= 1, (k, pruned[k])      # the old record once, never the new one
        assert calls.runs[k] == 1 + ran_again      # a repeat ran only after a prune ...
        assert not ran_again or pruned[k] == 1
        assert (k in kept) == ran_again            # ... and its record, within the horizon, stays
        assert gated_run(a, calls, k)[1] is ran_again
    assert a.pending_effects(all_agents=True) == []


@pytest.mark.parametrize("bad", [-1, float("nan"), "60", None, True])
def test_prune_refuses_a_bad_horizon(bad):
    from ccs import CoherenceAdapterCore

    a = CoherenceAdapterCore(engine="memory://").agent("a")
    with pytest.raises(InvalidArgument) as info:
        a.prune_effects(older_than=bad)
    assert info.value.details["parameter"] == "older_than"
