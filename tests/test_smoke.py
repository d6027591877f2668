import pytest

from ccs import StaleView
from ccs.cli.demo import run


def test_demo_shows_refusal_and_recovery():
    lines = []
    assert run(out=lines.append) == 0
    text = "\n".join(lines)
    assert "REFUSED" in text and "stale_view" in text
    assert "BUG" not in text


def test_stale_write_refused_then_reacquire(core):
    a, b = core.agent("a"), core.agent("b")
    a.write("x", "1")
    assert b.read("x") == "1"
    b.write("x", "2")
    try:
        a.write("x", "1+a")
    except StaleView as e:
        assert e.current_version == 2
    else:
        raise AssertionError("stale write landed")
    assert a.reacquire("x") == "2"
    assert a.write("x", "2+a") == 3
    assert b.read("x") == "2+a"


def test_delete_then_recreate_by_the_same_agent(core):
    a, b = core.agent("a"), core.agent("b")
    a.write("k", "1")
    assert a.delete("k") == 2
    assert a.read("k", "gone") == "gone"
    assert b.read("k", None) is None
    assert a.write("k", "again") == 3
    assert b.read("k") == "again"
    with a.transaction() as t:
        t.delete("k")
    assert a.read("k", None) is None
    assert a.write("k", "third") == 5


def test_retried_commit_superseded_by_a_peer_leaves_the_cache_invalid(core):
    """A commit that landed, lost its reply, and was retried after a peer committed: the retry
    reports the original version once, and the agent must not cache it as current."""
    a, b = core.agent("a"), core.agent("b")
    a.write("x", "1")
    calls = []

    def lost_then_retried(commit_id):
        first = core.coordinator.write("a", "x", 1, 0, (b"2", "str"), commit_id)
        calls.append(first)
        b.read("x")
        b.write("x", "3")  # a peer commits before the retry
        return core.coordinator.write("a", "x", 1, 0, (b"2", "str"), commit_id)

    c = a._commit("x", lost_then_retried)
    assert (calls[0].version, c.version, c.duplicate, c.superseded) == (2, 2, True, True)
    a._install_commit("x", c, b"2", "str", "2", owner=True)
    assert a.read("x") == "3"


def test_retried_commit_after_a_peer_acquired_is_not_cached_as_current(core):
    """Rumur finding F5: the retried commit's version is still current, but a peer's acquire
    took this agent's copy off the books; caching it as fresh would serve it forever."""
    a, b = core.agent("a"), core.agent("b")
    a.write("x", "1")

    def lost_then_retried(commit_id):
        core.coordinator.write("a", "x", 1, 0, (b"2", "str"), commit_id)
        b.acquire("x")  # a loses its grant and its registered copy
        return core.coordinator.write("a", "x", 1, 0, (b"2", "str"), commit_id)

    c = a._commit("x", lost_then_retried)
    assert (c.version, c.duplicate, c.superseded) == (2, True, True)
    a._install_commit("x", c, b"2", "str", "2", owner=True)
    b.write("x", "3")  # a is not a sharer: no invalidation reaches it
    assert a.read("x") == "3"


def test_retried_commit_reports_the_epoch_it_landed_at(core, clock):
    """A reply retried after crash recovery moved the epoch must not hand the agent the new
    epoch: that would let a write derived before the reclaim pass the fence."""
    a = core.agent("a")
    a.write("x", "1")
    first = core.coordinator.write("a", "x", 1, 0, (b"2", "str"), "cid")
    clock.advance(core.coordinator.crash_recovery.heartbeat_ttl + 1)
    assert [n.artifact for n in core.sweep()] == ["x"]
    retry = core.coordinator.write("a", "x", 1, 0, (b"2", "str"), "cid")
    assert (retry.version, retry.epoch, retry.superseded) == (first.version, 0, True)


def test_eager_prefetch_is_dropped_when_a_write_conflicts():
    """Rumur finding F6: a copy prefetched before a conflict may be older than the version the
    conflict reported; the next read must not serve it."""
    from ccs import CoherenceAdapterCore, StaleView

    core = CoherenceAdapterCore("memory://", "eager")
    a, b = core.agent("a"), core.agent("b")
    a.write("x", "v1")
    seen = b.read("x")
    a.write("x", "v2")  # b prefetches v2 ...
    entry = b._cache["x"]
    assert entry.prefetched is not None
    with pytest.raises(StaleView):
        b.write("x", seen + "+b")
    assert entry.prefetched is None
    assert b.read("x") == "v2"
