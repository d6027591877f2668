"""``CCSStore``: a LangGraph ``BaseStore`` whose reads are coherent and whose writes are checked.

Drop-in for ``InMemoryStore`` (``CCSStore(strategy="lazy")``), or for a persistent store
(``CCSStore(engine="sqlite:///state.db")``, ``CCSStore(inner=PostgresStore(...))``). See
``docs/langgraph.md`` for the user-facing description; the rules in brief:

* **identity**: the calling node (``identity.py``); ``store.for_agent(name)`` overrides it;
* **reads** serve the agent's cached copy while its strategy says it is fresh, and remember the
  version served in the caller's view scope (one node invocation);
* **writes**: a ``put``/``delete`` of an item this scope has read is a compare-and-set against the
  version read: ``StaleView`` (with ``current_version``) if a peer committed since, nothing lands.
  A write of an item the scope never read is *blind* and lands (last write wins);
* **batches** run their ops in order, each against the state the previous ones left: a ``get``
  after a ``put`` of the same key in one batch sees that put (``InMemoryStore`` instead evaluates
  every read before any write and keeps only the last put per key). A batch is not atomic: if an
  op raises, the ops before it have been applied and the ones after it have not;
* ``update(namespace, key, fn, retries=...)`` is an atomic read-modify-write with bounded retry.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any, Literal

from langgraph.store.base import (
    NOT_PROVIDED,
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    NotProvided,
    Op,
    PutOp,
    Result,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
)

from ccs import killswitch
from ccs.adapters.langgraph import bridge
from ccs.adapters.langgraph.batch import put_together
from ccs.adapters.langgraph.docs import DocCache, HybridClock
from ccs.adapters.langgraph.identity import GRAPH, IDENTITY_MODES, resolve
from ccs.adapters.langgraph.ids import (
    IdCodec,
    NamespaceError,
    check_labels,
    typed_namespace_errors,
    validate_namespace,
)
from ccs.adapters.langgraph.inner import InnerLink
from ccs.adapters.langgraph.ops import Call, Ops
from ccs.adapters.langgraph.query import index_fields, texts_to_embed
from ccs.adapters.langgraph.recorder import Recorder
from ccs.adapters.langgraph.views import ScopeTable, Session
from ccs.backends.memory import MemoryBackend
from ccs.client import CoherenceAdapterCore
from ccs.merge.three_way import check_how
from ccs.protocol.arguments import check_int, check_number
from ccs.protocol.errors import (
    InvalidArgument,
    InvalidRequest,
    InvalidStrategyParameter,
    VersionConflict,
)

Vectors = dict[int, dict[str, list[float]]]


_TTL_KEYS = frozenset(TTLConfig.__annotations__)


def check_ttl_config(ttl: Any) -> TTLConfig | None:
    """``CCSStore(ttl=)`` is LangGraph's item expiry (a ``TTLConfig`` dict, minutes); the lease
    strategy's revalidation interval (seconds) is ``lease_ttl=``. Anything else is refused here,
    naming both, instead of failing at the first ``put``."""
    if ttl is None:
        return None
    both = ("ttl= is LangGraph's item expiry: a TTLConfig dict such as {'default_ttl': 60, "
            "'refresh_on_read': True} (minutes); for the lease strategy's revalidation interval "
            "in seconds pass lease_ttl= (CCSStore(strategy='lease', lease_ttl=2))")
    if not isinstance(ttl, dict):
        raise InvalidArgument(f"{both}; got {ttl!r}", parameter="ttl",
                              recover="pass ttl={'default_ttl': minutes} or lease_ttl=seconds")
    unknown = sorted(map(str, set(ttl) - _TTL_KEYS))
    if unknown:
        raise InvalidArgument(f"{both}; unknown TTLConfig keys {unknown} (known: {sorted(_TTL_KEYS)})",
                              parameter="ttl")
    check_ttl(ttl.get("default_ttl"))
    return ttl


def check_ttl(ttl: Any) -> float | None:
    """A per-item TTL in minutes: ``None`` (never expires) or a positive finite number."""
    return None if ttl is None else check_number("ttl", ttl, positive=True)


def check_options(strategy: Any, ttl: Any, lease_ttl: Any, identity: Any, inner: Any, index: Any,
                  strategy_params: dict[str, Any]) -> TTLConfig | None:
    """The checks of ``CCSStore``'s arguments that need no engine (its pass-through makes them
    too); ``lease_ttl`` is moved into ``strategy_params``. Returns the checked ``ttl``."""
    ttl = check_ttl_config(ttl)
    if lease_ttl is not None:
        if strategy != "lease":
            raise InvalidStrategyParameter(
                f"lease_ttl= is the lease strategy's revalidation interval; strategy {strategy!r} "
                "does not take it (use strategy='lease')", strategy=str(strategy))
        strategy_params["ttl"] = lease_ttl
    if identity not in IDENTITY_MODES:
        raise InvalidRequest(f"identity must be one of {IDENTITY_MODES}, got {identity!r}")
    if inner is not None and index is not None:
        raise InvalidRequest("with inner=, configure the vector index on the inner store")
    return ttl


class _Handle(BaseStore):
    """What ``CCSStore`` and its ``for_agent`` handles share: the BaseStore surface over one
    store state, with an optional fixed agent and a session of views for use outside a graph."""

    supports_ttl = True
    coherence_disabled = False  # True on the pass-through CCS_DISABLE builds (passthrough.py)
    _root: CCSStore
    _bound: str | None
    _session: Session

    # BaseStore's own methods check namespaces before batching; their errors become typed too.
    search = typed_namespace_errors(BaseStore.search)
    asearch = typed_namespace_errors(BaseStore.asearch)
    delete = typed_namespace_errors(BaseStore.delete)
    adelete = typed_namespace_errors(BaseStore.adelete)
    list_namespaces = typed_namespace_errors(BaseStore.list_namespaces)
    alist_namespaces = typed_namespace_errors(BaseStore.alist_namespaces)
    aget = typed_namespace_errors(BaseStore.aget)
    aput = typed_namespace_errors(BaseStore.aput)

    @property
    def ttl_config(self) -> TTLConfig | None:  # type: ignore[override]
        return self._root._ttl_config

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        root = self._root
        ops, texts, queries = root._plan(ops)
        vectors, qvecs = root._embed(texts, queries)
        return root._execute(ops, vectors, qvecs, self._bound, self._session)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        root = self._root
        ops, texts, queries = root._plan(ops)
        vectors, qvecs = await root._aembed(texts, queries)
        if root._inline:
            return root._execute(ops, vectors, qvecs, self._bound, self._session)
        return await asyncio.to_thread(root._execute, ops, vectors, qvecs, self._bound, self._session)

    # Fast paths for the two hottest calls: same results as BaseStore.get/put -> batch([op]),
    # without building and re-dispatching a one-op batch.

    def get(self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None) -> Item | None:
        root = self._root
        if refresh_ttl is None:
            refresh_ttl = root._refresh_on_read
        call = root._call(self._bound, self._session, namespace)
        return root._ops.get(call, tuple(namespace), str(key), refresh_ttl)

    def put(self, namespace: tuple[str, ...], key: str, value: dict[str, Any],
            index: Literal[False] | list[str] | None = None, *,
            ttl: float | NotProvided | None = NOT_PROVIDED) -> None:
        root = self._root
        if namespace and namespace[0] == "langgraph":
            raise NamespaceError(f'Root label for namespace cannot be "langgraph". Got: {namespace}')
        if ttl is NOT_PROVIDED:
            ttl = root._ttl_default
        else:
            check_ttl(ttl)
        vectors = None
        if root._embeddings is not None and value is not None:
            check_labels(namespace)
            vectors = root._embed_value(dict(value), index)
        call = root._call(self._bound, self._session, namespace)
        root._ops.put(call, tuple(namespace), str(key), value, index, ttl, vectors)

    def update(self, namespace: tuple[str, ...], key: str, fn: Callable[[dict | None], dict | None],
               retries: int = 8, *, index: Any = None,
               ttl: float | NotProvided | None = NOT_PROVIDED) -> dict[str, Any] | None:
        """Atomically replace the item with ``fn(current value or None)``; ``None`` deletes it.

        Reads the current version, calls ``fn`` on a private copy, and commits only if nobody
        committed in between; on a lost race it re-reads and calls ``fn`` again, at most
        ``retries`` more times, then raises ``RetriesExhausted``. ``fn`` must be safe to repeat.
        Returns the value written (a copy)."""
        root = self._root
        check_int("retries", retries, minimum=0)
        if not callable(fn):
            raise InvalidArgument(f"fn must be callable, got {type(fn).__name__}", parameter="fn")
        if not namespace:
            raise NamespaceError("Namespace cannot be empty.")
        validate_namespace(GetOp(tuple(namespace), str(key)))
        ttl_minutes = root._default_ttl() if ttl is NOT_PROVIDED else check_ttl(ttl)
        call = root._call(self._bound, self._session, tuple(namespace))
        embed = root._embed_value if root._embeddings is not None else None
        return root._ops.update(call, tuple(namespace), str(key), fn, retries, ttl_minutes, index, embed)

    async def aupdate(self, namespace: tuple[str, ...], key: str, fn: Callable[[dict | None], dict | None],
                      retries: int = 8, *, index: Any = None,
                      ttl: float | NotProvided | None = NOT_PROVIDED) -> dict[str, Any] | None:
        """``update`` without blocking the event loop (runs in a worker thread)."""
        return await asyncio.to_thread(self.update, namespace, key, fn, retries, index=index, ttl=ttl)

    def render_context(self, namespace: tuple[str, ...], keys: Iterable[str], *, field: str | None = None,
                       role: str = "", turn: str = "", mode: str = "stateless", preset: Any = "anthropic",
                       shared: Iterable[str] = (), now: float | None = None) -> Any:
        """A stateless prompt over ``keys`` (see :mod:`ccs.tokens.stateless`): the fleet's pinned
        snapshot first, this agent's role, the changes since the pin, the turn."""
        from ccs.tokens.stateless import render_for_store

        return render_for_store(self, namespace, keys, field=field, role=role, turn=turn, mode=mode,
                                preset=preset, shared=shared, now=now)

    def for_agent(self, name: str) -> AgentStore:
        """The handle on this store that acts as agent ``name`` (overriding graph identity); the
        same object for the same name, so what it read outside a graph is remembered across calls."""
        root = self._root
        handle = root._handles.get(name)
        if handle is None:
            with root._handles_lock:
                handle = root._handles.get(name)
                if handle is None:
                    handle = root._handles[name] = AgentStore(root, name)
        return handle


class AgentStore(_Handle):
    """``store.for_agent(name)``: same data, fixed agent identity."""

    def __init__(self, root: CCSStore, name: str) -> None:
        root.core.agent(name)  # validates the name
        self._root = root
        self._bound = name
        self._session = root._session

    def __repr__(self) -> str:
        return f"AgentStore({self._bound!r})"


class CCSStore(_Handle):
    """A coherent LangGraph store. See the module docstring and ``docs/langgraph.md``."""

    def __new__(cls, *args: Any, **kwargs: Any) -> CCSStore:
        return super().__new__(killswitch.switched(cls, CCSStore, _pass_through))

    def __init__(
        self,
        strategy: str = "lazy",
        *,
        engine: str = "memory://",
        inner: BaseStore | None = None,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        identity: str = GRAPH,
        default_agent: str = "default",
        prefix: str = "lg",
        core: CoherenceAdapterCore | None = None,
        clock: Any = None,
        crash_recovery: Any = None,
        bus: Any = None,
        scope_limit: int = 16384,
        lease_ttl: float | None = None,
        merge: Any = None,
        **strategy_params: Any,
    ) -> None:
        ttl = check_options(strategy, ttl, lease_ttl, identity, inner, index, strategy_params)
        # merge="auto" (or fn(base, theirs, yours)): a stale put is merged, not refused (merging.py)
        self._merge = None if merge is None else check_how(merge)
        self._owns_core = core is None
        self.core = core or CoherenceAdapterCore(engine, strategy, bus=bus, clock=clock,
                                                 crash_recovery=crash_recovery, **strategy_params)
        self.core.agent(default_agent)
        self._root = self
        self._bound = None
        self._session = Session()
        self._handles: dict[str, AgentStore] = {}
        self._handles_lock = threading.Lock()
        self._identity = identity
        self._default = default_agent
        self._ids = IdCodec(prefix)
        self._docs = DocCache()
        self._clock = self.core.clock
        self._hclock = HybridClock(self._clock)
        self._scopes = ScopeTable(scope_limit)
        self._ops = Ops(self)
        self._recorder: Recorder | None = None
        self._ttl_config = ttl
        # what get() and put() use when the call does not say (the config never changes)
        self._ttl_default = None if ttl is None else ttl.get("default_ttl")
        self._refresh_on_read = True if ttl is None else ttl.get("refresh_on_read", True)
        self._inner = inner
        self._inner_link = None if inner is None else InnerLink(self, inner)
        self._inline = inner is None and isinstance(self.core.coordinator.backend, MemoryBackend)
        self.index_config = index
        self._embeddings = None if not index else ensure_embeddings(index.get("embed"))
        self._fields = None if not index else index_fields(index)

    # --- who is calling -----------------------------------------------------------------------

    def _call(self, bound: str | None, session: Session, namespace: tuple[str, ...] | None) -> Call:
        agent_name, task = resolve(self._identity, bound, self._default, namespace)
        if task is None:
            call = session.calls.get(agent_name)  # Session.call's own first step, inlined
            return call if call is not None else session.call(agent_name, self._make_call)
        return self._scopes.call(agent_name, task, self._make_call)

    def _make_call(self, agent_name: str, scope: str | None) -> Call:
        return Call(self.core.agent(agent_name), scope)

    # --- batches ------------------------------------------------------------------------------

    def _plan(self, ops: Iterable[Op]) -> tuple[list[Op], list[tuple[int, str, str]], list[str]]:
        ops = list(ops)
        texts: list[tuple[int, str, str]] = []
        queries: set[str] = set()
        for i, op in enumerate(ops):
            if not isinstance(op, GetOp | PutOp | SearchOp | ListNamespacesOp):
                raise ValueError(f"Unknown operation type: {type(op)}")
            validate_namespace(op)
            if isinstance(op, PutOp) and op.ttl is not NOT_PROVIDED:
                check_ttl(op.ttl)
            elif isinstance(op, SearchOp | ListNamespacesOp):
                check_int("limit", op.limit, minimum=0)
                check_int("offset", op.offset, minimum=0)
            if self._embeddings is None:
                continue
            if isinstance(op, PutOp) and op.value is not None:
                texts.extend((i, path, text) for path, text in
                             texts_to_embed(dict(op.value), op.index, self._fields))
            elif isinstance(op, SearchOp) and op.query:
                queries.add(op.query)
        return ops, texts, sorted(queries)

    def _embed(self, texts: list[tuple[int, str, str]], queries: list[str]) -> tuple[Vectors, dict]:
        if self._embeddings is None or not (texts or queries):
            return {}, {}
        docs = self._embeddings.embed_documents([t for _, _, t in texts]) if texts else []
        return _assemble(texts, docs), {q: self._embeddings.embed_query(q) for q in queries}

    async def _aembed(self, texts: list[tuple[int, str, str]], queries: list[str]) -> tuple[Vectors, dict]:
        if self._embeddings is None or not (texts or queries):
            return {}, {}
        docs = await self._embeddings.aembed_documents([t for _, _, t in texts]) if texts else []
        qv = await asyncio.gather(*(self._embeddings.aembed_query(q) for q in queries))
        return _assemble(texts, docs), dict(zip(queries, qv, strict=True))

    def _embed_value(self, value: dict[str, Any], index: Any) -> dict[str, list[float]] | None:
        texts = [(0, p, t) for p, t in texts_to_embed(value, index, self._fields)]
        return self._embed(texts, [])[0].get(0)

    def _execute(self, ops: list[Op], vectors: Vectors, qvecs: dict[str, list[float]],
                 bound: str | None, session: Session) -> list[Result]:
        results: list[Result] = []
        call: Call | None = None
        per_op = self._identity != GRAPH and bound is None
        ops_ = self._ops
        skip = tried = 0  # ops committed with the run before them; end of the last run tried
        for i, op in enumerate(ops):
            if skip:  # committed with the run of puts before it
                skip -= 1
                continue
            if call is None or per_op:
                ns = op.namespace if isinstance(op, GetOp | PutOp) else \
                    op.namespace_prefix if isinstance(op, SearchOp) else None
                call = self._call(bound, session, ns)
            if isinstance(op, PutOp) and not per_op and i >= tried:
                tried = i
                while tried < len(ops) and isinstance(ops[tried], PutOp):
                    tried += 1
                run = [(tuple(o.namespace), str(o.key), o.value, o.index, o.ttl, vectors.get(k))
                       for k, o in enumerate(ops[i:tried], start=i)]
                if put_together(ops_, call, run):  # one engine transaction; else one by one
                    results.extend([None] * len(run))
                    skip = len(run) - 1
                    continue
            if isinstance(op, GetOp):
                results.append(ops_.get(call, tuple(op.namespace), str(op.key), op.refresh_ttl))
            elif isinstance(op, PutOp):
                results.append(ops_.put(call, tuple(op.namespace), str(op.key), op.value, op.index,
                                        op.ttl, vectors.get(i)))
            elif isinstance(op, SearchOp):
                results.append(ops_.search(call, op, qvecs.get(op.query) if op.query else None))
            else:
                results.append(ops_.list_namespaces(call, op))
        return results

    def _default_ttl(self) -> float | None:
        return (self._ttl_config or {}).get("default_ttl")

    # --- operations beyond BaseStore -----------------------------------------------------------

    def record_to(self, path: str | os.PathLike[str] | None) -> CCSStore:
        """Append one JSON line per operation to ``path`` (see ``recorder.py``); None stops."""
        old, self._recorder = self._recorder, None if path is None else Recorder(path)
        if old is not None:
            old.close()
        return self

    def sweep_ttl(self) -> int:
        """Delete every expired item now; returns how many. (Expired items are invisible to reads
        even before a sweep, so sweeping only reclaims space.)"""
        call = self._call("ttl-sweeper", Session(), None)
        n = 0
        for rec in self.core.coordinator.artifacts(self._ids.head + "["):
            decoded = self._ids.decode(rec.artifact_id)
            if rec.content.digest is None or decoded is None:
                continue
            doc, _ = self._ops.live_doc(call, rec.artifact_id, rec.content.digest, None, rec.version)
            if doc is None:
                try:
                    bridge.commit(call.agent, call.lock, rec.artifact_id, rec.version, None)
                    n += 1
                except VersionConflict:
                    continue  # rewritten meanwhile: no longer expired
                if self._inner_link is not None:
                    self._inner_link.materialize(rec.artifact_id, *decoded)
        return n

    def resync(self) -> int:
        """With ``inner=``: write the engine's current version of every item to the inner store."""
        return 0 if self._inner_link is None else self._inner_link.resync()

    def close(self) -> None:
        self.record_to(None)
        if self._owns_core:
            self.core.close()

    def __enter__(self) -> CCSStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CCSStore(strategy={self.core.strategy.name!r}, engine={self.core.coordinator.backend.url!r})"


def _pass_through() -> type[CCSStore]:
    from ccs.adapters.langgraph.passthrough import PassThroughStore
    return PassThroughStore


def _assemble(texts: list[tuple[int, str, str]], vectors: list[list[float]]) -> Vectors:
    if len(vectors) != len(texts):
        raise ValueError(f"embedder returned {len(vectors)} vectors for {len(texts)} texts")
    out: Vectors = {}
    for (i, path, _), vec in zip(texts, vectors, strict=True):
        out.setdefault(i, {})[path] = [float(x) for x in vec]
    return out
