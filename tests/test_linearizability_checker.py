"""The history checker on hand-made histories, including ones it must reject."""

import itertools
import threading

import pytest

from ccs import StaleView
from ccs.history import (
    FAIL,
    OK,
    PENDING,
    Op,
    Recorder,
    cas_winners,
    check,
    load_history,
    lost_updates,
    reclaimed_commits_landed,
)

_ids = itertools.count()


def op(kind, t0, t1=None, *, status=OK, client="c", artifact="x", error=None, out=None, **inputs):
    """One operation invoked at ``t0`` and answered at ``t1`` (``None``: never answered)."""
    if t1 is None:
        status = PENDING
    elif error is not None:
        status = FAIL
    return Op(f"{client}-{next(_ids)}", client, kind, artifact, inputs, t0, t1, status, out or {}, error)


def read(t0, t1, version, value, **kw):
    return op("read", t0, t1, out={"version": version, "value": value, **kw.pop("out", {})}, **kw)


def write(t0, t1, base, value, version=None, **kw):
    out = {} if version is None else {"version": version}
    return op("write", t0, t1, base=base, value=value, out=out, **kw)


def cas(t0, t1, expected, value, version=None, **kw):
    out = {} if version is None else {"version": version}
    return op("commit_cas", t0, t1, expected=expected, value=value, out=out, **kw)


def verdict(*ops, budget=5.0):
    return check(list(ops), budget=budget).result


def test_sequential_history_is_linearizable():
    h = [write(0, 1, 0, "a", 1), read(2, 3, 1, "a"), cas(4, 5, 1, "b", 2), read(6, 7, 2, "b"),
         write(8, 9, 2, "c", 3)]
    assert verdict(*h) == "ok"


def test_stale_read_after_completed_write_is_rejected():
    assert verdict(write(0, 1, 0, "a", 1), read(2, 3, 0, None)) == "illegal"


def test_read_overlapping_a_write_may_see_either_version():
    assert verdict(write(0, 10, 0, "a", 1), read(2, 3, 0, None)) == "ok"
    assert verdict(write(0, 10, 0, "a", 1), read(2, 3, 1, "a")) == "ok"


def test_new_then_old_inversion_is_rejected():
    # both reads overlap the write, but the second starts after the first saw the new value
    assert verdict(write(0, 10, 0, "a", 1), read(1, 2, 1, "a"), read(3, 4, 0, None)) == "illegal"


def test_read_of_a_value_never_written_is_rejected():
    assert verdict(write(0, 1, 0, "a", 1), read(2, 3, 1, "z")) == "illegal"


def test_two_concurrent_writes_from_one_base_cannot_both_land():
    a, b = write(0, 5, 0, "a", 1, client="A"), write(1, 6, 0, "b", 1, client="B")
    assert verdict(a, b) == "illegal"
    assert lost_updates([a, b]) == [a, b]
    a2 = write(0, 5, 0, "a", 1, client="A")
    b2 = write(1, 6, 0, "b", error="stale_view", client="B")
    assert verdict(a2, b2) == "ok"
    assert lost_updates([a2, b2]) == []


def test_refusal_must_be_justified_by_the_state():
    # nothing moved, yet the write was refused as stale: not a legal history of the register
    assert verdict(write(0, 1, 0, "a", 1), write(2, 3, 1, "b", error="stale_view")) == "illegal"
    assert verdict(write(0, 1, 0, "a", 1), cas(2, 3, 1, "b", error="version_conflict")) == "illegal"
    # a refusal that changes nothing is fine when the version had moved
    assert verdict(write(0, 1, 0, "a", 1), write(2, 3, 0, "b", error="stale_view")) == "ok"


def test_failed_write_never_takes_effect():
    h = [write(0, 1, 0, "a", 1), write(2, 3, 0, "lost", error="stale_view"), read(4, 5, 2, "lost")]
    assert verdict(*h) == "illegal"


def test_commit_version_must_follow_current_version():
    assert verdict(write(0, 1, 0, "a", 1), write(2, 3, 1, "b", 5)) == "illegal"


def test_cas_race_has_exactly_one_winner():
    setup = write(0, 1, 0, "v1", 1)
    racers = [cas(2, 9, 1, "A", 2, client="A"), cas(3, 8, 1, "B", error="version_conflict", client="B"),
              cas(2, 7, 1, "C", error="version_conflict", client="C")]
    assert verdict(setup, *racers) == "ok"
    assert [len(w) for w in cas_winners(racers).values()] == [1]

    double = [cas(2, 9, 1, "A", 2, client="A"), cas(3, 8, 1, "B", 3, client="B")]
    assert verdict(setup, *double) == "illegal"
    assert [len(w) for w in cas_winners(double).values()] == [2]


def test_cas_losers_may_be_linearized_after_the_winner_only():
    # the winner returned before the loser started, and the loser still claims the old version won
    setup = write(0, 1, 0, "v1", 1)
    assert verdict(setup, cas(2, 3, 1, "A", 2), read(4, 5, 1, "v1")) == "illegal"


def test_pending_write_may_or_may_not_have_landed():
    crashed = write(0, None, 0, "maybe")
    assert verdict(crashed, read(5, 6, 1, "maybe")) == "ok"
    assert verdict(crashed, read(5, 6, 0, None)) == "ok"
    # once seen, it cannot be undone
    assert verdict(crashed, read(5, 6, 1, "maybe"), read(7, 8, 0, None)) == "illegal"
    # and it cannot land from a base that was no longer current when it was invoked
    late = write(2, None, 0, "late")
    assert verdict(write(0, 1, 0, "a", 1), late, read(5, 6, 2, "late")) == "illegal"


def test_pending_write_landing_counts_toward_the_chain():
    crashed = cas(2, None, 1, "p")
    h = [write(0, 1, 0, "a", 1), crashed, cas(3, 4, 2, "after", 3), read(5, 6, 3, "after")]
    assert verdict(*h) == "ok"  # only consistent if the crashed CAS landed as version 2
    assert verdict(*h[:2], cas(3, 4, 2, "after", error="version_conflict"), read(5, 6, 1, "a")) == "ok"


def test_artifacts_are_checked_independently():
    h = [write(0, 1, 0, "a", 1, artifact="x"), write(0, 1, 0, "a", 1, artifact="y"),
         read(2, 3, 0, None, artifact="y")]
    result = check(h)
    assert result.result == "illegal"
    assert result.artifacts == {"x": "ok", "y": "illegal"}
    assert result.witness["y"]  # the longest prefix that could be linearized


def test_commit_under_a_reclaimed_epoch_is_rejected():
    reclaim = op("reclaim", 2, 3, out={"fenced_epoch": 0, "epoch": 1})
    landed = write(4, 5, 1, "zombie", 2, epoch=0)
    h = [write(0, 1, 0, "a", 1, epoch=0), reclaim, landed]
    assert verdict(*h) == "illegal"
    assert reclaimed_commits_landed(h) == [landed]
    refused = write(4, 5, 1, "zombie", error="grant_reclaimed", epoch=0)
    assert verdict(h[0], reclaim, refused, write(6, 7, 1, "b", 2, epoch=1)) == "ok"
    assert reclaimed_commits_landed([h[0], reclaim, refused]) == []
    # an epoch refusal when no reclaim happened is not justified
    assert verdict(h[0], write(4, 5, 1, "b", error="stale_epoch", epoch=0)) == "illegal"


def test_lost_update_against_final_state():
    a, b = write(0, 1, 0, 1, 1), write(2, 3, 1, 2, 2)
    assert lost_updates([a, b], final={"x": (2, 2)}) == []
    assert lost_updates([a, b], final={"x": (1, 1)}) == [b]
    assert lost_updates([a, b], final={"x": (2, 99)}) == [b]


def test_budget_exhausted_gives_unknown_not_a_hang():
    # 20 overlapping blind writes then a read of a version no order can produce: the search has
    # to explore every subset before saying "illegal"; with a tiny budget it says "unknown".
    writes = [write(0, 100, None, n, client=f"w{n}") for n in range(20)]
    assert verdict(*writes, read(200, 201, 99, 0), budget=0.2) == "unknown"


def test_recorder_round_trip_with_threads_and_a_pending_op(tmp_path):
    path = tmp_path / "h.jsonl"
    with Recorder(path) as rec:
        def client(name):
            for n in range(50):
                o = rec.invoke(name, "write", "x", base=None, value=n)
                rec.ok(o, version=n)

        threads = [threading.Thread(target=client, args=(f"t{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        rec.invoke("crashed", "write", "x", base=3, value="?")
        with pytest.raises(StaleView), rec.record("r", "write", "x", base=0, value="s"):
            raise StaleView("moved", artifact="x")
        with pytest.raises(RuntimeError), rec.record("u", "write", "x", base=0, value="u"):
            raise RuntimeError("connection dropped: outcome unknown")
        in_memory = rec.ops()
    with open(path, "a") as f:
        f.write('{"t":"invoke","id":"torn')  # a writer killed mid-line
    loaded = load_history(path)
    assert len(loaded) == len(in_memory) == 203
    by_client = {o.client: o for o in loaded}
    assert by_client["crashed"].status == PENDING and by_client["crashed"].complete is None
    assert by_client["r"].status == FAIL and by_client["r"].error == "stale_view"
    assert by_client["u"].status == PENDING
    assert sum(o.status == OK for o in loaded) == 200
    assert all(o.complete >= o.invoke for o in loaded if o.complete is not None)


def test_commit_that_skipped_versions_is_a_lost_update():
    a, b = write(0, 1, 0, 1, 1, client="A"), write(2, 3, 0, 1, 2, client="B")  # B derived from v0
    assert lost_updates([a, b]) == [b]
    assert verdict(a, b) == "illegal"
