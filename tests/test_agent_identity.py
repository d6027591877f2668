"""Agent identity is per client instance (issue 10, item 6).

The protocol never invalidates the committer, and tracks sharers by agent id. Were the id the
readable name, agent ``worker`` in process B committing would never invalidate agent ``worker`` in
process A, and A would serve its old copy forever. Each ``CoherenceAdapterCore`` therefore gives
its agents the id ``name@<instance token>``, and keeps ``name`` for people.
"""

from __future__ import annotations

import json
import multiprocessing
import operator
import time
from typing import Annotated, TypedDict

import pytest

from ccs import CoherenceAdapterCore, Coordinator, StaleView
from ccs.backends import open_backend
from ccs.bus.sqlite import SqliteBus
from ccs.cli.main import main
from ccs.protocol.ids import MAX_AGENT_NAME, agent_name

NS = ("counters",)
KEY = "n"


def test_two_cores_with_one_agent_name_are_two_agents():
    coordinator = Coordinator("memory://")
    a_core = CoherenceAdapterCore(coordinator=coordinator)
    b_core = CoherenceAdapterCore(coordinator=coordinator)
    a, b = a_core.agent("worker"), b_core.agent("worker")
    a.write("x", 1)
    assert b.read("x") == 1
    b.write("x", 2)  # must invalidate a's copy: a is another agent
    assert a.read("x") == 2
    assert (a.name, b.name) == ("worker", "worker") and a.id != b.id
    a.write("y", 1)
    old = b.read("y")
    a.write("y", 5)
    with pytest.raises(StaleView) as info:
        b.write("y", old + 1)  # derived from the old value: refused
    assert info.value.current_version == 2
    assert "worker derived its write" in info.value.message
    assert info.value.details["committed_by"] == "worker (another instance)"
    coordinator.close()


def test_readable_name_is_kept_and_names_up_to_the_limit_work():
    with CoherenceAdapterCore("memory://") as core:
        agent = core.agent("n" * MAX_AGENT_NAME)
        assert agent.name == "n" * MAX_AGENT_NAME and agent_name(agent.id) == agent.name
        assert agent.write("x", "v") == 1
        assert core.coordinator.artifact("x").updated_by == agent.id
        assert core.agents == {agent.name: agent}
        assert agent_name("host:1234") == "host:1234"  # an id without a token is its own name


def test_status_shows_readable_names_and_tells_two_instances_apart(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/state.db"
    with CoherenceAdapterCore(url) as one, CoherenceAdapterCore(url) as two:
        one.agent("planner").write("plan.md", "x")
        w1, w2 = one.agent("worker"), two.agent("worker")
        w1.read("plan.md")
        w2.read("plan.md")
        assert main(["status", "--engine", url, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["views"] == {"planner": "S", w1.id: "S", w2.id: "S"}
    assert row["updated_by"] == "planner"


# --- two real processes on one SQLite file ----------------------------------------------------

def agent_process(url: str, conn) -> None:
    """Process A: agent ``worker`` reads, the parent (also ``worker``) commits, A reads again."""
    backend = open_backend(url)
    bus = SqliteBus(backend, interval=0)  # delivered by poll() below: no timing involved
    with CoherenceAdapterCore(backend, bus=bus) as core:
        a = core.agent("worker")
        conn.send([a.read("x"), a.read("y")])
        conn.recv()  # the parent committed x and y
        bus.poll()
        result = {"x": a.read("x")}
        try:
            a.write("y", "from the old y")
            result["y"] = "landed"
        except StaleView as exc:
            result["y"] = exc.code
        conn.send(result)


def test_processes_with_one_agent_name_invalidate_each_other(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    ctx = multiprocessing.get_context("spawn")
    with CoherenceAdapterCore(url) as core:
        b = core.agent("worker")
        b.write("x", "x1")
        b.write("y", "y1")
        here, there = ctx.Pipe()
        proc = ctx.Process(target=agent_process, args=(url, there))
        proc.start()
        try:
            assert here.poll(60)
            assert here.recv() == ["x1", "y1"]
            b.write("x", "x2")
            b.write("y", "y2")
            here.send("committed")
            assert here.poll(60)
            assert here.recv() == {"x": "x2", "y": "stale_view"}
        finally:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        assert proc.exitcode == 0
        assert b.read("y") == "y2"


class S(TypedDict):
    seen: Annotated[list, operator.add]


def _graph(store, fn):
    from langgraph.graph import START, StateGraph

    g = StateGraph(S)
    g.add_node("worker", fn)
    g.add_edge(START, "worker")
    return g.compile(store=store)


def graph_process(url: str, conn) -> None:
    """Process A: node ``worker`` of a graph on CCSStore(engine=url)."""
    from ccs.adapters import CCSStore

    with CCSStore(engine=url) as store:
        def read(state, *, store):
            return {"seen": [store.get(NS, KEY).value["n"]]}

        def read_think_put(state, *, store):
            n = store.get(NS, KEY).value["n"]
            conn.send(n)
            conn.recv()  # the parent committed meanwhile
            try:
                store.put(NS, KEY, {"n": n + 1})
                return {"seen": ["landed"]}
            except StaleView as exc:
                return {"seen": [exc.code]}

        reader = _graph(store, read)
        conn.send(reader.invoke({"seen": []})["seen"][0])
        conn.recv()  # the parent's graph committed n=2
        deadline = time.monotonic() + 30  # the SQLite bus delivers within a poll interval
        seen = reader.invoke({"seen": []})["seen"][0]
        while seen != 2 and time.monotonic() < deadline:
            time.sleep(0.01)
            seen = reader.invoke({"seen": []})["seen"][0]
        conn.send(seen)
        conn.send(_graph(store, read_think_put).invoke({"seen": []})["seen"][0])


def test_processes_running_one_graph_see_each_others_commits(tmp_path):
    from ccs.adapters import CCSStore

    url = f"sqlite:///{tmp_path}/state.db"
    ctx = multiprocessing.get_context("spawn")
    with CCSStore(engine=url) as store:
        store.put(NS, KEY, {"n": 1})

        def increment(state, *, store):
            store.update(NS, KEY, lambda v: {"n": v["n"] + 1})
            return {"seen": ["inc"]}

        incrementer = _graph(store, increment)
        here, there = ctx.Pipe()
        proc = ctx.Process(target=graph_process, args=(url, there))
        proc.start()
        try:
            assert here.poll(60) and here.recv() == 1
            incrementer.invoke({"seen": []})  # node "worker" here commits n=2
            here.send("committed")
            assert here.poll(60) and here.recv() == 2  # A's node "worker" sees it
            assert here.poll(60) and here.recv() == 2  # A's node read 2 and thinks
            incrementer.invoke({"seen": []})  # n=3
            here.send("committed")
            assert here.poll(60) and here.recv() == "stale_view"  # A's put from n=2 refused
        finally:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        assert proc.exitcode == 0
        assert store.get(NS, KEY).value == {"n": 3}


def forked_child(core: CoherenceAdapterCore, conn) -> None:
    agent = core.agent("worker")
    conn.send([core.instance, agent.id, agent.name, core._by_id.get(agent.id) is agent])


def test_a_forked_child_is_another_instance():
    with CoherenceAdapterCore("memory://") as core:
        parent = core.agent("worker")
        ctx = multiprocessing.get_context("fork")
        here, there = ctx.Pipe()
        proc = ctx.Process(target=forked_child, args=(core, there))
        proc.start()
        assert here.poll(60)
        instance, child_id, name, mapped = here.recv()
        proc.join(30)
        assert instance != core.instance and child_id != parent.id
        assert name == "worker" and agent_name(child_id) == "worker" and mapped
