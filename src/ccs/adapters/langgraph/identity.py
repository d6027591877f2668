"""Who is calling the store: the agent name and the *view scope* of one store call.

The **agent** is the name the coordinator tracks sharers and commits under. The **view scope** is
what a write is checked against: the versions this caller has read. They differ on purpose: two
parallel ``Send`` tasks of one node are the same agent, but each has its own view, so each task's
``put`` is checked against what *that task* read.

Resolution, first match wins:

1. a handle from ``store.for_agent(name)`` is agent ``name``;
2. ``identity="namespace"`` (the seed's convention, opt-in only): agent ``namespace[0]``;
3. inside a running graph, from LangGraph's config metadata (readable inside ``batch``: it lives in
   a context variable that LangGraph propagates into executor threads and asyncio tasks):
   ``langgraph_checkpoint_ns`` is ``"node:<task id>"``, or ``"outer:<task>|inner:<task>"`` inside
   a subgraph; the agent is the first segment's node name (so a subgraph is one agent, however many
   inner nodes it has) and falls back to ``langgraph_node``;
4. otherwise (outside any graph): the store's ``default_agent`` (``"default"`` unless configured).

Inside a graph the view scope is the first ``checkpoint_ns`` segment, task id included: one node
invocation (or one whole subgraph run); ``views.py`` keeps it as long as that task runs. Outside
a graph it is the agent: what ``store.for_agent("a")``
read is remembered for its later writes, across calls. Concurrent workers outside a graph should
therefore be distinct agents (``for_agent`` with one name per worker), as inside a graph they are.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from langchain_core.runnables.config import var_child_runnable_config

GRAPH = "graph"
NAMESPACE = "namespace"
IDENTITY_MODES = (GRAPH, NAMESPACE)

# LangGraph puts in each task's config the task's own write buffer (``writes.extend``, bound to a
# deque that lives exactly as long as the task) and the checkpoint map ({"": id of the top-level
# step's checkpoint, ...}; checkpoint ids are time-ordered UUIDv6). ``views.py`` uses the first
# as the task's lifetime and the second as the birth of a subgraph's scope.
_SEND = "__pregel_send"
_CHECKPOINT_MAP = "checkpoint_map"


class GraphTask(NamedTuple):
    """The graph task a store call runs in."""

    node: str | None  # the agent: the first checkpoint_ns segment's node name
    scope: str  # the view scope: the first checkpoint_ns segment, task id included
    own: bool  # the scope is this task's own (False inside a subgraph: the outer task's)
    configurable: Any  # the task config's "configurable" mapping


def graph_task() -> GraphTask | None:
    """The graph task running in this context; None outside a graph (or without a checkpoint_ns)."""
    return _task_of(var_child_runnable_config.get())


def _task_of(config: Any) -> GraphTask | None:
    if not config:
        return None
    metadata = config.get("metadata")
    if not metadata:
        return None
    ns = metadata.get("langgraph_checkpoint_ns")
    if ns:
        first, bar, _rest = ns.partition("|")
        name, sep, _task = first.rpartition(":")
        return GraphTask(name if sep and name else first, first, not bar,
                         config.get("configurable"))
    return None


def graph_node() -> str | None:
    """``langgraph_node`` of the running graph task, for a task without a checkpoint_ns."""
    return _node_of(var_child_runnable_config.get())


def _node_of(config: Any) -> str | None:
    metadata = config.get("metadata") if config else None
    node = metadata.get("langgraph_node") if metadata else None
    return None if node is None else str(node)


def task_anchor(configurable: Any) -> Any:
    """An object that lives exactly as long as the task (its write buffer), or None if this
    LangGraph does not expose one in the task config."""
    send = configurable.get(_SEND) if configurable else None
    return getattr(send, "__self__", None)


def task_birth(configurable: Any) -> int | None:
    """When the top-level step that started this task's scope began: the 60-bit timestamp of the
    step's checkpoint id (UUIDv6). None if unknown."""
    cmap = configurable.get(_CHECKPOINT_MAP) if configurable else None
    cid = cmap.get("") if isinstance(cmap, dict) else None
    try:
        n = int(str(cid).replace("-", ""), 16)
    except ValueError:
        return None
    if n >> 128 or (n >> 76) & 0xF != 6:
        return None
    return ((n >> 80) << 12) | ((n >> 64) & 0xFFF)


def resolve(mode: str, bound: str | None, default_agent: str,
            namespace: tuple[str, ...] | None) -> tuple[str, GraphTask | None]:
    """``(agent, graph task or None)`` for one store call."""
    config: Any = var_child_runnable_config.get()  # read once: every store call asks
    task = _task_of(config) if config else None
    if bound is not None:
        agent = bound
    elif mode == NAMESPACE and namespace:
        agent = namespace[0]
    elif task is not None:
        agent = task.node or default_agent
    else:
        agent = (_node_of(config) if config else None) or default_agent
    return agent, task
