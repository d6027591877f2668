"""The view-scope table on its own: what keeps a scope's views, and what happens when it cannot.

Driven with the same task records LangGraph hands a store call (``identity.GraphTask``: scope,
own or a subgraph's, the task config with its write buffer and checkpoint map), so each lifetime
rule is checked without waiting on threads.
"""

from __future__ import annotations

import gc
import operator
from collections import deque
from typing import Annotated, TypedDict

from langchain_core.runnables.config import var_child_runnable_config
from langgraph.checkpoint.base.id import uuid6
from langgraph.graph import START, StateGraph

from ccs.adapters.langgraph.identity import GraphTask, graph_task, task_anchor, task_birth
from ccs.adapters.langgraph.views import ScopeTable, Seen


class Call:
    """What the table stores (``ops.Call`` without an agent)."""

    def __init__(self, agent: str, scope: str | None) -> None:
        self.agent, self.scope, self.views = agent, scope, {}
        self.expired = False
        self.pinned_by = None


def task(scope: str, *, own: bool, anchor: object | None, born: str | None) -> GraphTask:
    conf = {"checkpoint_map": {"": born}} if born else {}
    if anchor is not None:
        conf["__pregel_send"] = anchor.extend
    return GraphTask("n", scope, own, conf)


def read_something(call: Call) -> Call:
    call.views["x"] = Seen(1, None, True)
    return call


def test_a_running_task_keeps_its_scope_whatever_else_is_created():
    table = ScopeTable(limit=2)
    buf = deque()
    mine = read_something(table.call("a", task("n:1", own=True, anchor=buf, born=str(uuid6())), Call))
    for i in range(50):
        other = deque()
        read_something(table.call("a", task(f"n:x{i}", own=True, anchor=other, born=str(uuid6())), Call))
        read_something(table.call("a", task(f"sub:x{i}", own=False, anchor=other, born=str(uuid6())), Call))
        del other
    gc.collect()
    assert table.call("a", task("n:1", own=True, anchor=buf, born=None), Call) is mine
    assert not mine.expired
    del buf, mine
    gc.collect()
    assert len(table) <= 2  # finished tasks' scopes released; at most `limit` subgraph scopes kept


def test_dropped_subgraph_scope_comes_back_expired_and_newer_ones_do_not():
    table = ScopeTable(limit=2)
    born = str(uuid6())
    first = read_something(table.call("a", task("sub:1", own=False, anchor=deque(), born=born), Call))
    ref_views = first.views
    del first
    for i in range(3):  # three newer subgraph scopes push it out of the table
        table.call("a", task(f"sub:y{i}", own=False, anchor=deque(), born=str(uuid6())), Call)
    gc.collect()
    again = table.call("a", task("sub:1", own=False, anchor=deque(), born=born), Call)
    assert again.views is not ref_views and again.expired
    newer = table.call("a", task("sub:2", own=False, anchor=deque(), born=str(uuid6())), Call)
    assert not newer.expired
    assert not table.call("a", task("n:3", own=True, anchor=deque(), born=str(uuid6())), Call).expired


def test_scope_that_read_nothing_is_dropped_without_expiring_anything():
    table = ScopeTable(limit=1)
    born = str(uuid6())
    table.call("a", task("sub:1", own=False, anchor=deque(), born=born), Call)
    table.call("a", task("sub:2", own=False, anchor=deque(), born=str(uuid6())), Call)
    gc.collect()
    assert not table.call("a", task("sub:1", own=False, anchor=deque(), born=born), Call).expired


def test_without_anchor_or_birth_a_dropped_scope_fails_closed():
    """Another LangGraph might not expose the task's write buffer or checkpoint id: the table
    then keeps `limit` scopes, and a scope it dropped is expired when it comes back."""
    table = ScopeTable(limit=2)
    read_something(table.call("a", task("n:1", own=True, anchor=None, born=None), Call))
    for i in range(3):
        table.call("a", task(f"n:z{i}", own=True, anchor=None, born=None), Call)
    gc.collect()
    assert table.call("a", task("n:1", own=True, anchor=None, born=None), Call).expired


def test_birth_is_read_from_a_uuid6_checkpoint_id_only():
    a, b = str(uuid6()), str(uuid6())
    assert task_birth({"checkpoint_map": {"": a}}) < task_birth({"checkpoint_map": {"": b}})
    assert task_birth({"checkpoint_map": {"": "not-a-uuid"}}) is None
    assert task_birth({"checkpoint_map": {"": "6ba7b810-9dad-11d1-80b4-00c04fd430c8"}}) is None  # v1
    assert task_birth({}) is None and task_birth(None) is None


class S(TypedDict):
    seen: Annotated[list, operator.add]


def test_this_langgraph_gives_every_task_an_anchor_and_a_birth():
    """The lifetime rules rely on these; if a LangGraph upgrade removes them, scopes fall back to
    the bounded table (still fail-closed) and this test says so."""

    def node(state):
        t = graph_task()
        conf = var_child_runnable_config.get()["configurable"]
        return {"seen": [(t.scope, t.own, task_anchor(conf) is not None, task_birth(conf) is not None)]}

    inner = StateGraph(S)
    inner.add_node("inner", node)
    inner.add_edge(START, "inner")
    g = StateGraph(S)
    g.add_node("top", node)
    g.add_node("sub", inner.compile())
    g.add_edge(START, "top")
    g.add_edge(START, "sub")
    seen = g.compile().invoke({"seen": []})["seen"]
    assert sorted((s.split(":")[0], own, a, b) for s, own, a, b in seen) == [
        ("sub", False, True, True), ("top", True, True, True)]
