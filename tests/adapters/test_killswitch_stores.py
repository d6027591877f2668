"""``CCS_DISABLE=1`` on CCSStore (real LangGraph) and CoherentVolume: a loudly logged, marked
pass-through in which the lost update comes back (which proves coherence is really off), with
the volume's path confinement unchanged. Without the switch the same sequence is refused."""

from __future__ import annotations

import operator
import os
import threading
from typing import Annotated, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.store.memory import InMemoryStore

import killswitch_fixtures
from ccs import StaleView
from ccs.adapters import CCSStore
from ccs.adapters.coherent_volume import CoherentVolume
from ccs.protocol.errors import InvalidSwitch, PathOutsideWorkspace, UnmanagedPath
from killswitch_fixtures import warned

disabled, enabled = killswitch_fixtures.disabled, killswitch_fixtures.enabled
NS, KEY = ("counters",), "n"


def interleaved_increments(store) -> None:
    """a and b both read n, b writes n+1, then a writes n+1 from its stale read."""
    a, b = store.for_agent("a"), store.for_agent("b")
    seen_a = a.get(NS, KEY).value["n"]
    seen_b = b.get(NS, KEY).value["n"]
    b.put(NS, KEY, {"n": seen_b + 1})
    a.put(NS, KEY, {"n": seen_a + 1})


def test_ccsstore_refuses_the_stale_put_when_coherence_is_on(enabled):
    store = CCSStore()
    assert store.coherence_disabled is False
    store.put(NS, KEY, {"n": 0})
    with pytest.raises(StaleView):
        interleaved_increments(store)
    assert store.get(NS, KEY).value == {"n": 1}


def test_ccsstore_is_a_logged_pass_through_and_loses_the_update(disabled):
    store = CCSStore()
    assert isinstance(store, CCSStore) and store.coherence_disabled is True and store.core is None
    assert warned(disabled, "CCSStore")
    store.put(NS, KEY, {"n": 0})
    interleaved_increments(store)  # no StaleView: both puts land
    assert store.get(NS, KEY).value == {"n": 1}  # two increments, one survives: the lost update


def test_ccsstore_passes_through_to_the_inner_store_given(disabled):
    inner = InMemoryStore()
    inner.put(NS, KEY, {"n": 41})
    store = CCSStore(engine="sqlite:///unused.db", inner=inner)  # the engine is never opened
    assert not os.path.exists("unused.db")
    assert store.get(NS, KEY).value == {"n": 41}
    store.update(NS, KEY, lambda v: {"n": v["n"] + 1})
    assert inner.get(NS, KEY).value == {"n": 42}
    assert [i.key for i in store.search(NS)] == [KEY]
    store.delete(NS, KEY)
    assert inner.get(NS, KEY) is None


def test_ccsstore_with_a_persistent_engine_and_no_inner_refuses_to_hide_its_data(disabled, tmp_path):
    with pytest.raises(InvalidSwitch) as err:
        CCSStore(engine=f"sqlite:///{tmp_path / 'state.db'}")
    assert err.value.code == "invalid_switch" and "inner=" in err.value.recover
    assert not (tmp_path / "state.db").exists()


class S(TypedDict):
    outcomes: Annotated[list, operator.add]


def test_parallel_graph_nodes_lose_an_update_through_the_pass_through(disabled):
    """Two real LangGraph nodes run at once; both read before either writes (a barrier, not a
    sleep): through the pass-through both land and one increment is lost."""
    store = CCSStore()
    store.put(NS, KEY, {"n": 0})
    both_read = threading.Barrier(2, timeout=30)

    def node(state, *, store):
        n = store.get(NS, KEY).value["n"]
        both_read.wait()
        store.put(NS, KEY, {"n": n + 1})
        return {"outcomes": ["landed"]}

    g = StateGraph(S)
    for name in ("w0", "w1"):
        g.add_node(name, node)
        g.add_edge(START, name)
        g.add_edge(name, END)
    out = g.compile(store=store).invoke({"outcomes": []})
    assert out["outcomes"] == ["landed", "landed"]
    assert store.get(NS, KEY).value == {"n": 1}


def test_a_typo_in_the_switch_is_a_typed_error_at_construction(monkeypatch):
    for typo in ("2", "ture", "disable", "enabled"):
        monkeypatch.setenv("CCS_DISABLE", typo)
        with pytest.raises(InvalidSwitch) as err:
            CCSStore()
        assert err.value.details["parameter"] == "CCS_DISABLE" and typo in err.value.message
    for off in ("0", "false", "No", " ", ""):
        monkeypatch.setenv("CCS_DISABLE", off)
        assert CCSStore().coherence_disabled is False


# --- CoherentVolume ------------------------------------------------------------------------------

def stale_file_write(vol_a, vol_b) -> None:
    vol_a.read("plan.md")
    vol_b.read("plan.md")
    vol_b.write("plan.md", "# plan\n- bob\n")
    vol_a.write("plan.md", "# plan\n- alice\n")


def test_volume_refuses_the_stale_write_when_coherence_is_on(enabled, tmp_path):
    (tmp_path / "plan.md").write_text("# plan\n")
    with CoherentVolume(tmp_path, agent="a") as a, CoherentVolume(tmp_path, agent="b") as b:
        assert a.coherence_disabled is False
        with pytest.raises(StaleView):
            stale_file_write(a, b)
    assert (tmp_path / "plan.md").read_text() == "# plan\n- bob\n"


def test_volume_is_a_logged_pass_through_and_loses_the_edit(disabled, tmp_path):
    (tmp_path / "plan.md").write_text("# plan\n")
    with CoherentVolume(tmp_path, ("**",)) as a, CoherentVolume(tmp_path, ("**",)) as b:
        assert isinstance(a, CoherentVolume) and a.coherence_disabled is True
        assert warned(disabled, "CoherentVolume")
        stale_file_write(a, b)  # no StaleView
        assert a.read_with_version("plan.md").version is None  # no versions while it is off
    assert (tmp_path / "plan.md").read_text() == "# plan\n- alice\n"  # bob's edit is gone
    assert not (tmp_path / ".ccs").exists()  # the state was never opened


def test_volume_pass_through_keeps_path_confinement(disabled, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    os.symlink(tmp_path, root / "up")
    with CoherentVolume(root, ("docs/**", "up/**", "plan.md")) as vol:
        for path in ("../outside.txt", str(outside), ".ccs/state.db", "up/outside.txt"):
            with pytest.raises(PathOutsideWorkspace):
                vol.write(path, "x")
            with pytest.raises(PathOutsideWorkspace):
                vol.read(path)
        with pytest.raises(UnmanagedPath):
            vol.write("secrets.env", "x")
        os.symlink(outside, root / "plan.md")  # a symlink put where a managed file goes
        with pytest.raises(PathOutsideWorkspace):
            vol.write("plan.md", "x")
        vol.publish({"docs/a.md": "a", "docs/b.md": "b"})
        assert vol.read("docs/a.md") == "a" and vol.status()["coherence_disabled"] is True
    assert outside.read_text() == "keep" and sorted(os.listdir(root)) == ["docs", "plan.md", "up"]


def test_volume_pass_through_needs_the_managed_globs(disabled, tmp_path):
    with pytest.raises(InvalidSwitch) as err:
        CoherentVolume(tmp_path, managed=None)
    assert "managed=" in err.value.recover


def test_a_subclass_is_not_switched_and_says_so(disabled, tmp_path):
    class MyStore(CCSStore):
        pass

    class MyVolume(CoherentVolume):
        pass

    store = MyStore()
    assert type(store) is MyStore and store.coherence_disabled is False
    store.put(NS, KEY, {"n": 0})
    with pytest.raises(StaleView):
        interleaved_increments(store)
    with MyVolume(tmp_path) as vol:
        assert vol.coherence_disabled is False
    said = [r.getMessage() for r in disabled.records if r.levelname == "WARNING"]
    assert any("MyStore (a subclass of CCSStore) still checks every write" in m for m in said)
    assert any("MyVolume (a subclass of CoherentVolume) still checks every write" in m for m in said)


def test_ccsstore_pass_through_checks_its_arguments_as_the_coherent_store_does(disabled):
    from ccs.protocol.errors import InvalidArgument, InvalidStrategyParameter, UnknownStrategy

    for kwargs, error in ((dict(strategy="nope"), UnknownStrategy), (dict(ttl=2), InvalidArgument),
                          (dict(lease_ttl=2), InvalidStrategyParameter),
                          (dict(max_reads=3), InvalidStrategyParameter)):
        with pytest.raises(error):
            CCSStore(**kwargs)
    store = CCSStore(ttl={"default_ttl": 5})  # InMemoryStore has no TTL: kept, not expiring
    store.put(NS, KEY, {"n": 1})
    assert store.get(NS, KEY).value == {"n": 1}
    assert any("do not expire" in r.getMessage() for r in disabled.records)
