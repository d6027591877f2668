"""A node's view outlives any amount of other traffic: a put derived from a read is never taken
for a blind write because the store forgot the read (issue 10, item 1).

Each test runs a real graph whose "slow" node reads, then blocks on a ``threading.Event`` while
a peer commits and many other node invocations run (far more than ``scope_limit``), then puts.
"""

from __future__ import annotations

import asyncio
import gc
import operator
import threading
from typing import Annotated, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from ccs import CoherenceError, StaleView, ViewExpired
from ccs.adapters import CCSStore

NS = ("plans",)
KEY = "plan"
LIMIT = 32
WIDE = 3 * LIMIT  # node invocations per churn run: each is a new view scope


class S(TypedDict):
    outcomes: Annotated[list, operator.add]


def _reader(state, *, store):
    store.get(NS, KEY)
    return {"outcomes": ["r"]}


def _wide_graph(store: CCSStore, subgraphs: bool = False):
    """WIDE parallel nodes (or subgraphs) reading the key: WIDE new view scopes per run."""
    g = StateGraph(S)
    node = _reader
    if subgraphs:
        inner = StateGraph(S)
        inner.add_node("read", _reader)
        inner.add_edge(START, "read")
        node = inner.compile()
    for i in range(WIDE):
        g.add_node(f"r{i}", node)
        g.add_edge(START, f"r{i}")
        g.add_edge(f"r{i}", END)
    return g.compile(store=store)


class Slow:
    """A node that reads, waits for ``go``, then puts a value derived from what it read."""

    def __init__(self) -> None:
        self.read = threading.Event()
        self.go = threading.Event()
        self.error: BaseException | None = None

    def node(self, state, *, store):
        item = store.get(NS, KEY)
        self.read.set()
        assert self.go.wait(30)
        try:
            store.put(NS, KEY, {"v": item.value["v"] + 1, "by": "slow"})
        except CoherenceError as exc:
            self.error = exc
            return {"outcomes": ["refused"]}
        return {"outcomes": ["landed"]}

    async def anode(self, state, *, store):
        item = await store.aget(NS, KEY)
        self.read.set()
        assert await asyncio.to_thread(self.go.wait, 30)
        try:
            await store.aput(NS, KEY, {"v": item.value["v"] + 1, "by": "slow"})
        except CoherenceError as exc:
            self.error = exc
            return {"outcomes": ["refused"]}
        return {"outcomes": ["landed"]}


def _race(store: CCSStore, slow: Slow, run_slow, subgraphs: bool = False) -> list:
    """Run the slow graph in a thread; while it waits: a peer commit, then two wide churn runs."""
    store.put(NS, KEY, {"v": 1, "by": "setup"})
    result: list = []
    t = threading.Thread(target=lambda: result.append(run_slow()))
    t.start()
    assert slow.read.wait(30)
    store.for_agent("peer").update(NS, KEY, lambda v: {"v": v["v"] + 10, "by": "peer"})
    churn = _wide_graph(store, subgraphs)
    churn.invoke({"outcomes": []})
    churn.invoke({"outcomes": []})
    gc.collect()
    slow.go.set()
    t.join(30)
    assert not t.is_alive()
    return result[0]["outcomes"]


def _one_node(fn):
    g = StateGraph(S)
    g.add_node("slow", fn)
    g.add_edge(START, "slow")
    g.add_edge("slow", END)
    return g


def _assert_refused(store: CCSStore, slow: Slow, outcomes: list) -> None:
    assert "refused" in outcomes and "landed" not in outcomes
    assert isinstance(slow.error, CoherenceError) and slow.error.recover
    # the peer's commit survives: the slow node's stale write never landed
    assert store.get(NS, KEY).value == {"v": 11, "by": "peer"}


def test_slow_node_put_is_refused_after_many_other_scopes():
    store = CCSStore(scope_limit=LIMIT)
    slow = Slow()
    app = _one_node(slow.node).compile(store=store)
    outcomes = _race(store, slow, lambda: app.invoke({"outcomes": []}))
    _assert_refused(store, slow, outcomes)
    assert isinstance(slow.error, StaleView) and slow.error.current_version == 2


@pytest.mark.parametrize("engine", ["memory", "sqlite"])
def test_slow_async_node_put_is_refused_after_many_other_scopes(engine, tmp_path):
    """On SQLite, async store calls run in worker threads (copied contexts): same scope."""
    url = f"sqlite:///{tmp_path}/state.db" if engine == "sqlite" else "memory://"
    store = CCSStore(scope_limit=LIMIT, engine=url)
    slow = Slow()
    app = _one_node(slow.anode).compile(store=store)
    outcomes = _race(store, slow, lambda: asyncio.run(app.ainvoke({"outcomes": []})))
    _assert_refused(store, slow, outcomes)
    assert isinstance(slow.error, StaleView)


def test_slow_send_task_put_is_refused_and_sibling_views_stay_separate():
    """Two Send tasks of one node: one slow (refused), one that only writes blind (lands first)."""
    store = CCSStore(scope_limit=LIMIT)
    slow = Slow()

    def worker(state, *, store):
        if state["role"] == "slow":
            return slow.node(state, store=store)
        store.put(NS, "other", {"blind": True})  # never read in this task: blind, lands
        return {"outcomes": ["blind"]}

    g = StateGraph(S)
    g.add_node("worker", worker)
    g.add_conditional_edges(START, lambda s: [Send("worker", {"role": r, "outcomes": []})
                                              for r in ("slow", "blind")], ["worker"])
    g.add_edge("worker", END)
    app = g.compile(store=store)
    outcomes = _race(store, slow, lambda: app.invoke({"outcomes": []}))
    assert "blind" in outcomes
    _assert_refused(store, slow, outcomes)
    assert isinstance(slow.error, StaleView)


@pytest.mark.parametrize("churn", ["nodes", "subgraphs"])
def test_subgraph_view_between_inner_nodes_is_kept_or_fails_closed(churn):
    """A subgraph's view spans its inner nodes; between them no inner task holds it. Other node
    invocations never push it out (StaleView); if other subgraphs' scopes do (over scope_limit
    of them while an inner node 'thinks'), the later put is refused with ViewExpired, never
    applied as a blind write."""
    store = CCSStore(scope_limit=LIMIT)
    slow = Slow()
    seen = {}

    def read(state, *, store):
        seen["v"] = store.get(NS, KEY).value["v"]
        return {"outcomes": ["read"]}

    def think(state):  # no store call: nothing in this task holds the subgraph's view
        slow.read.set()
        assert slow.go.wait(30)
        return {"outcomes": ["thought"]}

    def write(state, *, store):
        try:
            store.put(NS, KEY, {"v": seen["v"] + 1, "by": "slow"})
        except CoherenceError as exc:
            slow.error = exc
            return {"outcomes": ["refused"]}
        return {"outcomes": ["landed"]}

    inner = StateGraph(S)
    for name, fn in (("read", read), ("think", think), ("write", write)):
        inner.add_node(name, fn)
    inner.add_edge(START, "read")
    inner.add_edge("read", "think")
    inner.add_edge("think", "write")
    outer = StateGraph(S)
    outer.add_node("writer", inner.compile())
    outer.add_edge(START, "writer")
    app = outer.compile(store=store)
    outcomes = _race(store, slow, lambda: app.invoke({"outcomes": []}), churn == "subgraphs")
    _assert_refused(store, slow, outcomes)
    if churn == "nodes":
        assert isinstance(slow.error, StaleView) and slow.error.current_version == 2
    else:
        assert isinstance(slow.error, ViewExpired) and slow.error.code == "view_expired"
        assert slow.error.details["agent"] == "writer"


def test_node_that_runs_a_subgraph_writes_checked_against_what_the_subgraph_read():
    """A function node invoking a compiled subgraph shares its scope with the inner nodes: the
    inner read checks the outer node's later put, however many scopes are served meanwhile."""
    store = CCSStore(scope_limit=LIMIT)
    slow = Slow()

    def read(state, *, store):
        return {"outcomes": [store.get(NS, KEY).value["v"]]}

    inner = StateGraph(S)
    inner.add_node("read", read)
    inner.add_edge(START, "read")
    sub = inner.compile()

    def outer_node(state, *, store):
        v = sub.invoke({"outcomes": []})["outcomes"][0]
        slow.read.set()
        assert slow.go.wait(30)
        try:
            store.put(NS, KEY, {"v": v + 1, "by": "slow"})
        except CoherenceError as exc:
            slow.error = exc
            return {"outcomes": ["refused"]}
        return {"outcomes": ["landed"]}

    app = _one_node(outer_node).compile(store=store)
    outcomes = _race(store, slow, lambda: app.invoke({"outcomes": []}))
    _assert_refused(store, slow, outcomes)


@pytest.mark.parametrize("subgraphs", [False, True])
def test_blind_put_of_a_new_node_still_lands_after_churn(subgraphs):
    """The documented blind write is kept: a node that never read the key overwrites it, even
    after the store has dropped many scopes (a newer scope is never taken for a dropped one)."""
    store = CCSStore(scope_limit=LIMIT)
    store.put(NS, KEY, {"v": 1})
    churn = _wide_graph(store, subgraphs)
    for _ in range(3):
        churn.invoke({"outcomes": []})
    gc.collect()

    def setter(state, *, store):
        store.put(NS, KEY, {"v": 42})
        return {"outcomes": ["ok"]}

    _one_node(setter).compile(store=store).invoke({"outcomes": []})
    assert store.get(NS, KEY).value == {"v": 42}


@pytest.mark.parametrize("subgraphs", [False, True])
def test_views_of_finished_node_invocations_are_released(subgraphs):
    """Views live as long as their node invocation, not forever: once runs are over the store
    keeps none of a node's, and at most scope_limit subgraph views."""
    store = CCSStore(scope_limit=LIMIT)
    store.put(NS, KEY, {"v": 1})
    churn = _wide_graph(store, subgraphs)
    for _ in range(3):
        churn.invoke({"outcomes": []})
    gc.collect()
    assert len(store._scopes) == (LIMIT if subgraphs else 0)


@pytest.mark.parametrize("limit", [0, -1])
def test_scope_limit_must_be_positive(limit):
    with pytest.raises(ValueError):
        CCSStore(scope_limit=limit)
