"""``CCSStore(merge=...)`` on every engine, and a refused put reaching the model as a conflict
packet through a real LangGraph ``ToolNode`` (``handle_tool_errors=conflict_tool_error``)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("langgraph")

from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from ccs.adapters.langgraph import CCSStore, conflict_tool_error
from ccs.merge import MergeConflict
from conformance.conftest import ENGINES, Store
from together import together

NS = ("docs",)
WRITERS = 4


@pytest.fixture(params=ENGINES)
def engine(request, tmp_path):
    s = Store(request.param, tmp_path)
    yield s
    s.cleanup()


def test_concurrent_puts_of_disjoint_keys_all_land(engine):
    CCSStore(core=engine.core()).put(NS, "cfg", {"owner": "ops", "limits": {"cpu": 1}})
    handles = [CCSStore(core=engine.core(), merge="auto").for_agent(f"w{i}") for i in range(WRITERS)]
    seen = [h.get(NS, "cfg").value for h in handles]
    values = [{**v, f"k{i}": i, "limits": {**v["limits"], f"r{i}": i}} for i, v in enumerate(seen)]
    errors = [r for r in together(WRITERS, lambda i: handles[i].put(NS, "cfg", values[i])) if r]
    assert not errors
    reader = CCSStore(core=engine.core())
    final = reader.get(NS, "cfg").value
    assert final == {"owner": "ops", **{f"k{i}": i for i in range(WRITERS)},
                     "limits": {"cpu": 1, **{f"r{i}": i for i in range(WRITERS)}}}
    aid = reader._ids.encode(NS, "cfg")
    commits = [e for e in engine.coordinator().audit(aid) if e.outcome == "committed"]
    assert sorted(e.version for e in commits) == list(range(1, WRITERS + 2))


def test_overlapping_put_is_a_merge_conflict_and_nothing_lands(engine):
    peer = CCSStore(core=engine.core()).for_agent("peer")
    me = CCSStore(core=engine.core(), merge="auto").for_agent("me")
    peer.put(NS, "cfg", {"owner": "ops", "n": 1})
    seen = me.get(NS, "cfg").value
    peer.get(NS, "cfg")
    peer.put(NS, "cfg", {"owner": "dev", "n": 1})
    with pytest.raises(MergeConflict) as refused:
        me.put(NS, "cfg", {**seen, "owner": "qa"})
    err = refused.value
    assert err.details["regions"] == [{"at": "$.owner", "base": "ops", "theirs": "dev", "yours": "qa"}]
    assert err.details["namespace"] == list(NS) and err.details["key"] == "cfg"
    text = err.conflict_packet().text
    # a small item: sent whole (shorter than a diff), its value, not its stored envelope
    assert 'Current content (v2' in text and '{\n "n": 1,\n "owner": "dev"\n}' in text
    assert "Next: put the item again" in text
    assert CCSStore(core=engine.core()).get(NS, "cfg").value == {"owner": "dev", "n": 1}


def _graph(store, peer_edit):
    """model -> tools -> model ... with one tool, ``edit_plan``: it reads the plan, takes its time
    (meanwhile ``peer_edit()`` may commit, the first time), and writes the plan back. Views are
    per graph task in a ``CCSStore``, so the read and the write are one tool call's."""
    writer = store.for_agent("writer")
    peer_turns = [peer_edit]

    @tool
    def edit_plan(title: str) -> str:
        """Set the plan's title."""
        plan = writer.get(NS, "plan").value
        if peer_turns:
            peer_turns.pop()()
        writer.put(NS, "plan", {**plan, "title": title})
        return json.dumps({"ok": True})

    results: list[str] = []

    def model(state):  # a scripted model: edit; on a refusal, edit again; then stop
        last = state["messages"][-1]
        if isinstance(last, ToolMessage):
            results.append(last.content)
            if json.loads(last.content)["ok"]:
                return {"messages": [AIMessage("done")]}
        n = len(results)
        return {"messages": [AIMessage("", tool_calls=[
            {"name": "edit_plan", "args": {"title": "launch v2"}, "id": f"c{n}"}])]}

    g = StateGraph(MessagesState)
    g.add_node("model", model)
    g.add_node("tools", ToolNode([edit_plan], handle_tool_errors=conflict_tool_error))
    g.add_edge(START, "model")
    g.add_conditional_edges("model", tools_condition)
    g.add_edge("tools", "model")
    return g.compile(), results


def _peer(store):
    peer = store.for_agent("peer")
    peer.put(NS, "plan", {"title": "launch", "owner": "ops"})

    def edit():
        peer.get(NS, "plan")
        peer.put(NS, "plan", {"title": "launch", "owner": "dev"})
    return edit


def test_tool_node_returns_the_conflict_packet_and_the_model_resolves_it():
    store = CCSStore(engine="memory://")
    graph, results = _graph(store, _peer(store))
    graph.invoke({"messages": [("user", "rename the plan")]})
    refused, done = (json.loads(r) for r in results)
    assert refused["ok"] is False and refused["code"] == "stale_view"
    packet = refused["conflict_packet"]
    assert "based on v1, the current version is v2 (v2 by peer)" in packet
    assert '{\n "owner": "dev",\n "title": "launch"\n}' in packet  # the item's value, whole
    assert '+ "title": "launch v2"' in packet
    assert "Next: put the item again" in packet
    assert done == {"ok": True}
    assert store.get(NS, "plan").value == {"title": "launch v2", "owner": "dev"}


def test_tool_node_with_merge_lands_the_stale_disjoint_put():
    store = CCSStore(engine="memory://", merge="auto")
    graph, results = _graph(store, _peer(store))
    graph.invoke({"messages": [("user", "rename the plan")]})
    assert [json.loads(r) for r in results] == [{"ok": True}]
    assert store.get(NS, "plan").value == {"title": "launch v2", "owner": "dev"}


def test_kill_switch_pass_throughs_take_merge_and_check_it(monkeypatch, tmp_path):
    from ccs import killswitch
    from ccs.adapters.coherent_volume import CoherentVolume
    from ccs.protocol.errors import InvalidArgument

    monkeypatch.setenv("CCS_DISABLE", "1")
    killswitch.reset_warnings()
    store = CCSStore(merge="auto")  # a pass-through: nothing is refused, so nothing to merge
    assert store.coherence_disabled
    store.put(NS, "k", {"v": 1})
    assert store.get(NS, "k").value == {"v": 1}
    with pytest.raises(InvalidArgument):
        CCSStore(merge="theirs")
    vol = CoherentVolume(tmp_path)
    vol.write("a.md", "x\n", merge="auto")
    vol.write_cas_at("a.md", 7, "y\n", merge="auto")
    assert (tmp_path / "a.md").read_text() == "y\n"
    with pytest.raises(InvalidArgument):
        vol.write("a.md", "z\n", merge="theirs")
    killswitch.reset_warnings()
