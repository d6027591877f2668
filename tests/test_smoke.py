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
