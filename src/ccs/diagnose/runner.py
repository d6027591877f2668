"""Load an unmodified LangGraph graph by ``module:attr`` and run it on a recording store.

The graph may be a compiled graph (its own store, if any, is wrapped; otherwise an
``InMemoryStore``) or a ``StateGraph`` builder (compiled here with the recording store). Nothing
of the graph is changed: the compiled graph is copied with the store swapped.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import tempfile
import threading
from typing import Any

from ccs.protocol.errors import InvalidRequest
from ccs.replay.source import Event, load


class BadGraph(InvalidRequest):
    code = "bad_graph"
    default_recover = "pass module:attr naming a compiled LangGraph graph or a StateGraph, importable " \
                      "from the current directory"


class BadInput(InvalidRequest):
    code = "bad_input"
    default_recover = "pass --input FILE holding the graph's input as one JSON object"


class GraphFailed(InvalidRequest):
    code = "graph_failed"
    default_recover = "run the graph with this input by itself first; diagnose needs one clean run"


def load_graph(spec: str) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise BadGraph(f"{spec!r} is not module:attr (e.g. my_app.graph:app)")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BadGraph(f"cannot import {module_name!r}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise BadGraph(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def read_input(path: str | None) -> Any:
    if path is None:
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: not JSON ({exc})") from None


def with_store(graph: Any, store: Any) -> Any:
    """The graph, compiled if a builder, running on ``store``."""
    from langgraph.graph import StateGraph
    from langgraph.pregel import Pregel

    if isinstance(graph, StateGraph):
        return graph.compile(store=store)
    if isinstance(graph, Pregel):
        return graph.copy(update={"store": store})
    raise BadGraph(f"{type(graph).__name__} is neither a compiled LangGraph graph nor a StateGraph")


def own_store(graph: Any) -> Any:
    from langgraph.pregel import Pregel
    return graph.store if isinstance(graph, Pregel) else None


def run(spec: str, input_path: str | None, runs: int = 1, record: str | None = None,
        progress: Any = None) -> tuple[list[Event], str]:
    """Run the graph ``runs`` times on one recording store; the events and the log's path (kept
    only if ``record`` named it)."""
    from langgraph.store.memory import InMemoryStore

    from ccs.adapters.langgraph.recording import RecordingStore

    graph = load_graph(spec)
    payload = read_input(input_path)
    inner = own_store(graph)
    if inner is None:
        inner = InMemoryStore()
    temporary = record is None
    if record is None:
        fd, record = tempfile.mkstemp(prefix="ccs-diagnose-", suffix=".jsonl")
        os.close(fd)
    else:
        open(record, "w").close()  # a fresh log
    store = RecordingStore(inner, record)
    done = threading.Event()
    if progress is not None:  # a line now and then while a long graph runs
        def tick() -> None:
            while not done.wait(0.5):
                progress(f"{store.operations} store operations so far")
        threading.Thread(target=tick, daemon=True, name="ccs-diagnose-progress").start()
    try:
        app = with_store(graph, store)
        if needs_async(app):
            asyncio.run(_arun(app, payload, runs, progress))
        else:
            for n in range(runs):
                _step(progress, n, runs)
                try:
                    app.invoke(payload, _config(n))
                except Exception as exc:
                    raise GraphFailed(f"the graph raised {type(exc).__name__}: {exc}") from exc
        store.close()
        return load(record), record
    finally:
        done.set()
        store.close()
        if temporary:
            os.unlink(record)


def needs_async(app: Any) -> bool:
    """A graph with an async-only node cannot run under ``invoke``; it runs under ``ainvoke``."""
    for node in getattr(app, "nodes", {}).values():
        bound = getattr(node, "bound", None)
        if getattr(bound, "func", True) is None and getattr(bound, "afunc", None) is not None:
            return True
    return False


async def _arun(app: Any, payload: Any, runs: int, progress: Any) -> None:
    for n in range(runs):  # one event loop for every run: the graph's asyncio objects stay valid
        _step(progress, n, runs)
        try:
            await app.ainvoke(payload, _config(n))
        except Exception as exc:
            raise GraphFailed(f"the graph raised {type(exc).__name__}: {exc}") from exc


def _config(n: int) -> dict[str, Any]:
    return {"configurable": {"thread_id": f"ccs-diagnose-{n}"}}


def _step(progress: Any, n: int, runs: int) -> None:
    if progress is not None:
        progress(f"run {n + 1} of {runs}")
