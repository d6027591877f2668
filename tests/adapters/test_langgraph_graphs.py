"""CCSStore under real LangGraph graphs: races, Send, subgraphs, async, fake chat models."""

from __future__ import annotations

import asyncio
import operator
import time
from typing import Annotated, TypedDict

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.store.base import BaseStore
from langgraph.types import Send

from ccs import RetriesExhausted, StaleView
from ccs.adapters import CCSStore
from ccs.adapters.langgraph import read_log

NS = ("counters",)
KEY = "n"
N_NODES = 8


class S(TypedDict):
    outcomes: Annotated[list, operator.add]


def _value(store: BaseStore) -> int:
    item = store.get(NS, KEY)
    return 0 if item is None else item.value["n"]


def _naive(store: BaseStore) -> str:
    """get -> think -> put(n+1): the classic lost-update shape."""
    item = store.get(NS, KEY)
    n = 0 if item is None else item.value["n"]
    time.sleep(0.01)  # "think": widens the window in which peers commit
    try:
        store.put(NS, KEY, {"n": n + 1})
    except StaleView as exc:
        assert exc.code == "stale_view" and exc.current_version is not None
        assert exc.artifact and exc.recover
        return "conflict"
    return "landed"


def _fan_out_graph(node_fn, n: int = N_NODES):
    g = StateGraph(S)
    for i in range(n):
        g.add_node(f"w{i}", node_fn)
        g.add_edge(START, f"w{i}")
        g.add_edge(f"w{i}", END)
    return g


def test_sync_fan_out_race_loses_nothing():
    store = CCSStore(strategy="lazy")
    store.put(NS, KEY, {"n": 0})

    def node(state, *, store: BaseStore):
        return {"outcomes": [_naive(store)]}

    out = _fan_out_graph(node).compile(store=store).invoke({"outcomes": []})
    landed = out["outcomes"].count("landed")
    assert len(out["outcomes"]) == N_NODES
    assert landed >= 1
    assert _value(store) == landed  # every landed put counted, every other one raised


def test_async_fan_out_race_loses_nothing():
    store = CCSStore(strategy="lazy")
    store.put(NS, KEY, {"n": 0})

    async def node(state, *, store: BaseStore):
        item = await store.aget(NS, KEY)
        await asyncio.sleep(0.01)
        try:
            await store.aput(NS, KEY, {"n": item.value["n"] + 1})
        except StaleView:
            return {"outcomes": ["conflict"]}
        return {"outcomes": ["landed"]}

    out = asyncio.run(_fan_out_graph(node).compile(store=store).ainvoke({"outcomes": []}))
    landed = out["outcomes"].count("landed")
    assert len(out["outcomes"]) == N_NODES and landed >= 1
    assert _value(store) == landed


def _send_graph(worker):
    g = StateGraph(S)
    g.add_node("worker", worker)
    g.add_conditional_edges(START, lambda s: [Send("worker", {"outcomes": []}) for _ in range(N_NODES)],
                            ["worker"])
    g.add_edge("worker", END)
    return g


def test_send_tasks_of_one_node_have_separate_views():
    """Eight Send tasks are one agent ("worker") but eight views: a task's put is checked against
    what *it* read, even after a sibling task updated the shared agent cache."""
    store = CCSStore(strategy="lazy")
    store.put(NS, KEY, {"n": 0})
    out = _send_graph(lambda s, *, store: {"outcomes": [_naive(store)]}).compile(store=store).invoke(
        {"outcomes": []})
    landed = out["outcomes"].count("landed")
    assert len(out["outcomes"]) == N_NODES and landed >= 1
    assert _value(store) == landed


def test_update_makes_all_eight_land_sync_send():
    store = CCSStore(strategy="lazy")

    def worker(state, *, store):
        store.update(NS, KEY, lambda v: {"n": (v or {"n": 0})["n"] + 1}, retries=64)
        return {"outcomes": ["landed"]}

    _send_graph(worker).compile(store=store).invoke({"outcomes": []})
    assert _value(store) == N_NODES


def test_aupdate_makes_all_eight_land_async():
    store = CCSStore(strategy="eager")

    async def node(state, *, store):
        await store.aupdate(NS, KEY, lambda v: {"n": (v or {"n": 0})["n"] + 1}, retries=64)
        return {"outcomes": ["landed"]}

    asyncio.run(_fan_out_graph(node).compile(store=store).ainvoke({"outcomes": []}))
    assert _value(store) == N_NODES


def test_retry_loop_makes_all_eight_land():
    store = CCSStore(strategy="lazy")
    store.put(NS, KEY, {"n": 0})

    def node(state, *, store):
        tries = 0
        while True:
            tries += 1
            item = store.get(NS, KEY)
            try:
                store.put(NS, KEY, {"n": item.value["n"] + 1})
                return {"outcomes": [tries]}
            except StaleView:
                continue

    out = _fan_out_graph(node).compile(store=store).invoke({"outcomes": []})
    assert _value(store) == N_NODES
    assert len(out["outcomes"]) == N_NODES


def test_update_retries_are_bounded():
    store = CCSStore()
    peer = store.for_agent("peer")

    def meddle(value):
        peer.update(NS, KEY, lambda v: {"n": 100})  # a peer commits inside every attempt
        return {"n": 1}

    with pytest.raises(RetriesExhausted) as info:
        store.update(NS, KEY, meddle, retries=2)
    assert info.value.details["attempts"] == 3
    assert info.value.current_version is not None


def test_subgraph_is_one_agent_and_its_view_spans_inner_nodes(tmp_path):
    """A subgraph node is the agent (first checkpoint_ns segment); a read in one inner node and a
    put in another are one view, so a peer commit between them makes the put raise."""
    store = CCSStore()
    store.put(("plans",), "plan", {"v": 0})
    store.record_to(tmp_path / "log.jsonl")

    def read(state, *, store):
        store.get(("plans",), "plan")
        return {"outcomes": ["read"]}

    def peer_commits(state, *, store):
        store.for_agent("reviewer").put(("plans",), "plan", {"v": 99})
        return {"outcomes": ["peer"]}

    def write(state, *, store):
        store.put(("plans",), "plan", {"v": 1})
        return {"outcomes": ["wrote"]}

    inner = StateGraph(S)
    inner.add_node("read", read)
    inner.add_node("peer", peer_commits)
    inner.add_node("write", write)
    inner.add_edge(START, "read")
    inner.add_edge("read", "peer")
    inner.add_edge("peer", "write")
    outer = StateGraph(S)
    outer.add_node("writer", inner.compile())
    outer.add_edge(START, "writer")
    app = outer.compile(store=store)
    with pytest.raises(StaleView) as info:
        app.invoke({"outcomes": []})
    assert info.value.current_version == 2
    assert store.get(("plans",), "plan").value == {"v": 99}
    lines = read_log(tmp_path / "log.jsonl")
    in_graph = [x for x in lines if x["scope"]]
    assert {x["agent"] for x in in_graph} == {"writer", "reviewer"}
    writer_lines = [x for x in in_graph if x["agent"] == "writer"]
    assert [x["op"] for x in writer_lines] == ["get", "put"]
    assert writer_lines[1]["outcome"] == "conflict" and writer_lines[1]["seen"] == 1
    assert writer_lines[0]["scope"] == writer_lines[1]["scope"]
    assert writer_lines[0]["scope"].startswith("writer:")


def test_blind_put_from_a_node_lands():
    """A node that never read the key writes blind: it lands over a peer's commit (documented)."""
    store = CCSStore()
    store.put(NS, KEY, {"n": 5})

    def node(state, *, store):
        store.put(NS, KEY, {"n": 42})
        return {"outcomes": ["ok"]}

    g = StateGraph(S)
    g.add_node("setter", node)
    g.add_edge(START, "setter")
    g.compile(store=store).invoke({"outcomes": []})
    assert _value(store) == 42


def test_identity_comes_from_the_running_node(tmp_path):
    store = CCSStore()
    log = tmp_path / "ops.jsonl"
    store.record_to(log)

    def planner(state, *, store):
        store.put(("plans",), "p", {"x": 1})
        return {"outcomes": ["p"]}

    async def coder(state, *, store):
        await store.aget(("plans",), "p")
        return {"outcomes": ["c"]}

    g = StateGraph(S)
    g.add_node("planner", planner)
    g.add_node("coder", coder)
    g.add_edge(START, "planner")
    g.add_edge("planner", "coder")
    asyncio.run(g.compile(store=store).ainvoke({"outcomes": []}))
    store.get(("plans",), "p")  # outside any graph
    store.for_agent("auditor").get(("plans",), "p")
    agents = [(x["agent"], x["op"]) for x in read_log(log)]
    assert agents == [("planner", "put"), ("coder", "get"), ("default", "get"), ("auditor", "get")]
    assert set(store.core.agents) >= {"planner", "coder", "default", "auditor"}


def test_user_scoped_namespaces_never_leak(tmp_path):
    """(user_id, "memories") namespaces stay per user; the model is a fake chat model."""
    store = CCSStore()
    model = FakeListChatModel(responses=["likes tea", "likes jazz", "hates mondays", "likes chess"])

    class M(TypedDict):
        outcomes: Annotated[list, operator.add]

    def remember(state, config, *, store):
        user = config["configurable"]["user_id"]
        note = model.invoke(f"what should I remember about {user}?").content
        mine = store.search((user, "memories"))
        store.put((user, "memories"), f"m{len(mine)}", {"text": note, "user": user})
        return {"outcomes": [note]}

    g = StateGraph(M)
    g.add_node("remember", remember)
    g.add_edge(START, "remember")
    app = g.compile(store=store)
    for user in ["alice", "bob", "alice", "bob"]:
        app.invoke({"outcomes": []}, {"configurable": {"user_id": user}})
    for user in ["alice", "bob"]:
        items = store.search((user,))
        assert len(items) == 2
        assert all(it.namespace == (user, "memories") and it.value["user"] == user for it in items)
        assert {it.key for it in items} == {"m0", "m1"}
    assert store.list_namespaces() == [("alice", "memories"), ("bob", "memories")]
    assert store.list_namespaces(prefix=("alice",)) == [("alice", "memories")]


def test_namespace_identity_is_opt_in_and_keeps_users_apart():
    store = CCSStore(identity="namespace")
    store.put(("alice", "memories"), "k", {"v": 1})
    store.put(("bob", "memories"), "k", {"v": 2})
    assert store.get(("alice", "memories"), "k").value == {"v": 1}
    assert store.get(("bob", "memories"), "k").value == {"v": 2}
    assert {"alice", "bob"} <= set(store.core.agents)
    store.put(("solo",), "k", {"v": 3})  # one-element namespace is fine here too
    assert store.get(("solo",), "k").value == {"v": 3}


def test_async_race_on_sqlite_engine_runs_off_the_event_loop(tmp_path):
    """Non-memory engines run abatch in a worker thread; the race is still lossless."""
    store = CCSStore(engine=f"sqlite:///{tmp_path}/state.db")
    assert not store._inline
    store.put(NS, KEY, {"n": 0})

    async def node(state, *, store):
        item = await store.aget(NS, KEY)
        await asyncio.sleep(0.01)
        try:
            await store.aput(NS, KEY, {"n": item.value["n"] + 1})
        except StaleView:
            await store.aupdate(NS, KEY, lambda v: {"n": v["n"] + 1}, retries=64)
            return {"outcomes": ["retried"]}
        return {"outcomes": ["landed"]}

    out = asyncio.run(_fan_out_graph(node).compile(store=store).ainvoke({"outcomes": []}))
    assert len(out["outcomes"]) == N_NODES
    assert _value(store) == N_NODES
    store.close()
