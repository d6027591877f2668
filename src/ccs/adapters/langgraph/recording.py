"""``RecordingStore(inner, path)``: any LangGraph ``BaseStore``, unchanged, with every operation
logged in ``record_to``'s JSON-lines format (see ``recorder.py``), for ``ccs replay`` and
``ccs diagnose``.

The inner store has no versions, so the wrapper keeps them: each item's version starts at 0
(absent) or 1 (present when first touched) and goes up by one per put or delete, in the order the
inner store applied them (operations run one at a time under a lock). Like ``CCSStore`` it
remembers, per caller (graph node task, or agent outside a graph), the version each item had when
the caller last read or wrote it: that is a write's ``seen``. Nothing is refused: a write derived
from a stale read lands, exactly as it would without the wrapper, and the log shows it.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from langchain_core.runnables.config import var_child_runnable_config
from langgraph.store.base import BaseStore, GetOp, ListNamespacesOp, Op, PutOp, Result, SearchOp

from ccs.adapters.langgraph.identity import graph_node, graph_task
from ccs.adapters.langgraph.ids import IdCodec
from ccs.adapters.langgraph.recorder import Recorder


class RecordingStore(BaseStore):
    def __init__(self, inner: BaseStore, path: str | os.PathLike[str], *, prefix: str = "lg",
                 default_agent: str = "default") -> None:
        self.inner = inner
        self._recorder = Recorder(path)
        self._ids = IdCodec(prefix)
        self._default = default_agent
        self._lock = threading.Lock()
        self._versions: dict[str, int] = {}
        self._views: dict[tuple[str, str], dict[str, int]] = {}
        self.operations = 0  # how many have been recorded

    @property
    def supports_ttl(self) -> bool:  # type: ignore[override]
        return getattr(self.inner, "supports_ttl", False)

    @property
    def ttl_config(self) -> Any:  # type: ignore[override]
        return getattr(self.inner, "ttl_config", None)

    def _caller(self) -> tuple[str, str | None, str | None]:
        """(agent, view scope, ``run/superstep`` of the graph task or None)."""
        config: Any = var_child_runnable_config.get() or {}
        meta, conf = config.get("metadata") or {}, config.get("configurable") or {}
        step = None if meta.get("langgraph_step") is None else \
            f"{conf.get('thread_id', '')}/{meta['langgraph_step']}"
        task = graph_task()
        if task is not None:
            return task.node or self._default, task.scope, step
        return graph_node() or self._default, None, step

    def _version(self, aid: str, ns: tuple[str, ...], key: str) -> int:
        v = self._versions.get(aid)
        if v is None:
            present = self.inner.batch([GetOp(ns, key, refresh_ttl=False)])[0] is not None
            v = self._versions[aid] = 1 if present else 0
        return v

    def _log(self, caller: tuple, op: str, aid: str | None, ns: Any, key: Any, **fields: Any) -> None:
        agent, scope, step = caller
        extra = {} if step is None else {"step": step}
        self._recorder.write({"t": time.time(), "agent": agent, "scope": scope, "op": op, "artifact": aid,
                              "namespace": None if ns is None else list(ns), "key": key, **fields, **extra,
                              "thread": f"{os.getpid()}/{threading.get_ident()}"})

    def _one(self, op: Op, caller: tuple) -> Result:
        agent, scope, _ = caller
        self.operations += 1
        view = self._views.setdefault((agent, scope or agent), {})
        if isinstance(op, GetOp | PutOp):
            ns, key = tuple(op.namespace), str(op.key)
            aid = self._ids.encode(ns, key)
            before = self._version(aid, ns, key)
            seen = view.get(aid)
            result = self.inner.batch([op])[0]
            if isinstance(op, GetOp):
                view[aid] = before
                self._log(caller, "get", aid, ns, key, seen=before, version=before,
                          outcome="absent" if result is None else "miss")
                return result
            version = self._versions[aid] = before + 1
            view[aid] = version
            self._log(caller, "put" if op.value is not None else "delete", aid, ns, key,
                      seen=seen, version=version, outcome="ok")
            return result
        result = self.inner.batch([op])[0]
        if isinstance(op, SearchOp):
            items = []
            for item in result:
                aid = self._ids.encode(tuple(item.namespace), str(item.key))
                version = view[aid] = self._version(aid, tuple(item.namespace), str(item.key))
                items.append([aid, version])
            self._log(caller, "search", None, op.namespace_prefix, None, outcome="ok",
                      count=len(result), items=items)
        elif isinstance(op, ListNamespacesOp):
            self._log(caller, "list_namespaces", None, None, None, outcome="ok", count=len(result))
        return result

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        caller = self._caller()
        with self._lock:
            return [self._one(op, caller) for op in ops]

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        caller = self._caller()  # read here: the context variable is this task's
        ops = list(ops)

        def run() -> list[Result]:
            with self._lock:
                return [self._one(op, caller) for op in ops]

        return await asyncio.to_thread(run)

    def close(self) -> None:
        self._recorder.close()
