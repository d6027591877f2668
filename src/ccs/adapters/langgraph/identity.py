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
invocation (or one whole subgraph run). Outside a graph it is the agent: what ``store.for_agent("a")``
read is remembered for its later writes, across calls. Concurrent workers outside a graph should
therefore be distinct agents (``for_agent`` with one name per worker), as inside a graph they are.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables.config import var_child_runnable_config

GRAPH = "graph"
NAMESPACE = "namespace"
IDENTITY_MODES = (GRAPH, NAMESPACE)


def graph_task() -> tuple[str | None, str | None]:
    """``(agent, task scope)`` of the graph task running in this context, ``(None, None)`` outside."""
    config: Any = var_child_runnable_config.get()
    if not config:
        return None, None
    metadata = config.get("metadata")
    if not metadata:
        return None, None
    ns = metadata.get("langgraph_checkpoint_ns")
    if ns:
        first = ns.split("|", 1)[0]
        name, sep, _task = first.rpartition(":")
        return (name if sep and name else first), first
    node = metadata.get("langgraph_node")
    if node:
        return str(node), None
    return None, None


def resolve(mode: str, bound: str | None, default_agent: str,
            namespace: tuple[str, ...] | None) -> tuple[str, str | None]:
    """``(agent, graph task scope or None)`` for one store call."""
    node, scope = graph_task()
    if bound is not None:
        agent = bound
    elif mode == NAMESPACE and namespace:
        agent = namespace[0]
    else:
        agent = node or default_agent
    return agent, scope
