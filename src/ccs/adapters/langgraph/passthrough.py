"""``CCSStore`` with ``CCS_DISABLE=1``: a plain pass-through, coherence off (docs/kill-switches.md).

``CCSStore(...)`` built while the switch is on returns a ``PassThroughStore`` (still an instance of
``CCSStore``, ``coherence_disabled`` True). Every call goes straight to the inner store: the
``inner=`` given, or a fresh ``InMemoryStore`` for the default ``memory://`` engine (whose data
lived in this process only, so nothing is hidden by starting empty). The engine is not opened at
all (``store.core`` is None): an engine that is down or misbehaving is out of the way.

With a persistent engine and no ``inner=``, the data lives in the engine, and an empty
in-memory stand-in would silently hide it (and lose every write at exit): that is refused with
``InvalidSwitch``. Configure ``inner=`` (the engine then only held versions), or unset the switch.

What is lost while it is on: reads are not remembered, writes are not checked (a put derived
from a stale read lands: last write wins), ``update`` is a plain get-then-put (not atomic, not
retried), there are no per-agent identities or views, no observers, no recording; with an inner
store that has no TTL support (``InMemoryStore``) items do not expire (a WARNING says so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from langgraph.store.base import NOT_PROVIDED, BaseStore, Item, NotProvided, Op, Result, TTLConfig
from langgraph.store.memory import InMemoryStore

from ccs import killswitch
from ccs.adapters.langgraph.identity import GRAPH
from ccs.adapters.langgraph.store import CCSStore, check_options
from ccs.client.strategies import make_strategy
from ccs.merge.three_way import check_how
from ccs.protocol.arguments import check_int
from ccs.protocol.errors import InvalidArgument, InvalidSwitch
from ccs.protocol.ids import check_agent_name


class PassThroughStore(CCSStore):
    coherence_disabled = True

    def __init__(self, strategy: str = "lazy", *, engine: str = "memory://",
                 inner: BaseStore | None = None, index: Any = None, ttl: TTLConfig | None = None,
                 identity: str = GRAPH, default_agent: str = "default", prefix: str = "lg",
                 core: Any = None, clock: Any = None, crash_recovery: Any = None, bus: Any = None,
                 scope_limit: int = 16384, lease_ttl: float | None = None, merge: Any = None,
                 **strategy_params: Any) -> None:
        # The same argument checks as a coherent store: a typo fails now, not when it is back on.
        # (merge= is checked and unused: nothing is refused while coherence is off.)
        if merge is not None:
            check_how(merge)
        self._ttl_config = check_options(strategy, ttl, lease_ttl, identity, inner, index,
                                         strategy_params)
        make_strategy(strategy, **strategy_params)
        check_agent_name(default_agent)
        if inner is None and (core is not None or engine != "memory://"):
            raise InvalidSwitch(
                f"CCS_DISABLE is set, but this CCSStore keeps its data in the engine "
                f"({'core=' if core is not None else 'engine='}) and has no inner= store to pass "
                "through to: an empty stand-in would hide that data and lose every write",
                parameter="CCS_DISABLE",
                recover="give CCSStore an inner= store (e.g. a PostgresStore) so the data lives "
                        "there, or unset CCS_DISABLE; nothing was opened")
        self.core = None
        self._root = self
        self._bound = None
        self._inner = inner if inner is not None else InMemoryStore(index=index)
        self._owns_inner = inner is None
        if self._ttl_config and not self._inner.supports_ttl:
            killswitch.log.warning("CCS_DISABLE: %s has no TTL support: items put through the "
                                   "pass-through do not expire", type(self._inner).__name__)
        self.index_config = index

    @property
    def inner(self) -> BaseStore:
        return self._inner

    @property
    def supports_ttl(self) -> bool:  # type: ignore[override]
        return self._inner.supports_ttl

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        return self._inner.batch(ops)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        return await self._inner.abatch(ops)

    def get(self, namespace: tuple[str, ...], key: str, *, refresh_ttl: bool | None = None) -> Item | None:
        return self._inner.get(namespace, key, refresh_ttl=refresh_ttl)

    def put(self, namespace: tuple[str, ...], key: str, value: dict[str, Any], index: Any = None, *,
            ttl: float | NotProvided | None = NOT_PROVIDED) -> None:
        if not self._inner.supports_ttl:
            ttl = None  # said once, at construction
        elif ttl is NOT_PROVIDED:
            ttl = self._default_ttl()
        self._inner.put(namespace, key, value, index, ttl=ttl)

    def update(self, namespace: tuple[str, ...], key: str, fn: Callable[[dict | None], dict | None],
               retries: int = 8, *, index: Any = None,
               ttl: float | NotProvided | None = NOT_PROVIDED) -> dict[str, Any] | None:
        """Get, ``fn``, put: NOT atomic while coherence is off (a concurrent update can be lost)."""
        check_int("retries", retries, minimum=0)
        if not callable(fn):
            raise InvalidArgument(f"fn must be callable, got {type(fn).__name__}", parameter="fn")
        item = self._inner.get(namespace, key)
        new = fn(None if item is None else dict(item.value))
        if new is None:
            self._inner.delete(namespace, key)
        else:
            self.put(namespace, key, new, index, ttl=ttl)
        return new

    def for_agent(self, name: str) -> PassThroughStore:
        """The same store: with coherence off there are no per-agent views."""
        check_agent_name(name)
        return self

    def record_to(self, path: Any) -> PassThroughStore:
        return self  # nothing is recorded while coherence is off

    def sweep_ttl(self) -> int:
        sweep = getattr(self._inner, "sweep_ttl", None)
        return sweep() if callable(sweep) else 0

    def resync(self) -> int:
        return 0

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if self._owns_inner and callable(close):
            close()

    def __repr__(self) -> str:
        return f"PassThroughStore(coherence disabled by CCS_DISABLE, inner={type(self._inner).__name__})"
