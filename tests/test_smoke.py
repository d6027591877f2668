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
