"""Real LangGraph graphs for `ccs replay` and `ccs diagnose` tests: a fan-out of N nodes that each
get a counter, think (a barrier: every node has read before any writes), and put n+1 (the
lost-update shape), and the same fan-out on disjoint keys (no hazard).

``SOURCE`` is this module's graph code as a standalone module, written by tests into a temporary
directory and imported from there by `ccs diagnose module:attr` (an unmodified user graph: it
never imports ccs)."""

from __future__ import annotations

SOURCE = '''
import operator
import threading
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph

N = 6
NS = ("counters",)


class S(TypedDict):
    outcomes: Annotated[list, operator.add]


def _parallel(nodes: dict) -> StateGraph:
    """Every node runs in the first superstep, side by side: the race the graphs below stage."""
    g = StateGraph(S)
    for name, fn in nodes.items():
        g.add_node(name, fn)
        g.add_edge(START, name)
        g.add_edge(name, END)
    return g


def make(shared: bool, on_conflict=None) -> StateGraph:
    barrier = threading.Barrier(N, timeout=20)

    def node(i):
        key = "n" if shared else f"n{i}"

        def run(state, *, store):
            item = store.get(NS, key)
            n = 0 if item is None else item.value["n"]
            barrier.wait()  # think: every branch has read before any writes
            try:
                store.put(NS, key, {"n": n + 1})
            except Exception as exc:
                if on_conflict is None or not on_conflict(exc):
                    raise
                return {"outcomes": ["conflict"]}
            return {"outcomes": ["landed"]}
        return run

    return _parallel({f"w{i}": node(i) for i in range(N)})



def make_divergent() -> StateGraph:
    """One writer, two parallel readers: the first reads before the write, the second after."""
    before, after = threading.Barrier(2, timeout=20), threading.Barrier(2, timeout=20)

    def early(state, *, store):
        store.get(("plans",), "plan")
        before.wait()
        return {"outcomes": ["early"]}

    def writer(state, *, store):
        before.wait()
        store.put(("plans",), "plan", {"steps": 3})
        after.wait()
        return {"outcomes": ["wrote"]}

    def late(state, *, store):
        after.wait()
        store.get(("plans",), "plan")
        return {"outcomes": ["late"]}

    return _parallel({"early": early, "writer": writer, "late": late})


def make_async() -> StateGraph:
    """The fan-out as async nodes (aget -> think -> aput): ccs diagnose runs it with ainvoke."""
    import asyncio

    barrier = asyncio.Barrier(N)

    def node(i):
        async def run(state, *, store):
            item = await store.aget(NS, "n")
            n = 0 if item is None else item.value["n"]
            await barrier.wait()
            await store.aput(NS, "n", {"n": n + 1})
            return {"outcomes": ["landed"]}
        return run

    return _parallel({f"a{i}": node(i) for i in range(N)})


def make_sequential() -> StateGraph:
    """Two nodes, one after the other, each a read-modify-write of one key: shared, no race."""
    def bump(state, *, store):
        item = store.get(NS, "n")
        store.put(NS, "n", {"n": (0 if item is None else item.value["n"]) + 1})
        return {"outcomes": ["bumped"]}

    g = StateGraph(S)
    g.add_node("planner", bump)
    g.add_node("reviewer", bump)
    g.add_edge(START, "planner")
    g.add_edge("planner", "reviewer")
    g.add_edge("reviewer", END)
    return g


def make_blind() -> StateGraph:
    """Parallel nodes that each put a status without reading it: last write wins, blind."""
    def node(i):
        def run(state, *, store):
            store.put(("status",), "current", {"by": i})
            return {"outcomes": [i]}
        return run

    return _parallel({f"s{i}": node(i) for i in range(3)})


def broken(state):
    raise RuntimeError("boom")


hazard_builder = make(shared=True)
hazard = make(shared=True).compile()
disjoint = make(shared=False).compile()
divergent = make_divergent().compile()
async_hazard = make_async().compile()
sequential = make_sequential().compile()
blind = make_blind().compile()

from langgraph.store.memory import InMemoryStore  # noqa: E402

own = InMemoryStore()
own.put(NS, "n", {"n": 41})
hazard_own_store = make(shared=True).compile(store=own)
fails = StateGraph(S).add_node("broken", broken).add_edge(START, "broken").compile()
not_a_graph = 42
'''


def load(tmp_path, name: str):
    """Write SOURCE as module ``name`` under tmp_path and import it."""
    import importlib.util

    path = tmp_path / f"{name}.py"
    path.write_text(SOURCE)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
