"""The store operations, one at a time, for one caller (agent + view scope).

Reads (``get``, ``search``) record in the caller's view scope the version they served. A ``put``
or ``delete`` from a scope that has seen the item is a compare-and-set against that version: if a
peer committed since, it raises ``StaleView`` (with the current version) and nothing lands. A
write from a scope that never saw the item is *blind*: it lands whatever the current version is
(last write wins), still serialized by the engine, so the item's ``created_at`` is kept right.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from langgraph.store.base import Item, ListNamespacesOp, SearchItem, SearchOp

from ccs.adapters.langgraph import bridge, merging
from ccs.adapters.langgraph.docs import (
    Doc,
    copy_doc_value,
    copy_value,
    decode_ttl,
    encode_doc,
    encode_ttl,
)
from ccs.adapters.langgraph.ids import NamespaceError, ttl_id
from ccs.adapters.langgraph.query import matches_filter, page_namespaces, rank
from ccs.adapters.langgraph.views import Seen
from ccs.client.agent import Agent
from ccs.protocol.errors import (
    CoherenceError,
    CorruptState,
    InvalidValue,
    RetriesExhausted,
    StaleView,
    VersionConflict,
    ViewExpired,
)

if TYPE_CHECKING:
    from ccs.adapters.langgraph.store import CCSStore

BLIND_RETRIES = 64


def _item_fast(value: dict[str, Any], key: str, namespace: tuple[str, ...], created_at: datetime,
               updated_at: datetime) -> Item:
    """``Item(...)`` without the constructor's conversions (``tuple(namespace)``, ISO strings to
    datetimes): here the namespace is already a tuple and the stamps are datetimes."""
    item = _new_item(Item)
    item.value, item.key, item.namespace = value, key, namespace
    item.created_at, item.updated_at = created_at, updated_at
    return item


def _item_constructed(value: dict[str, Any], key: str, namespace: tuple[str, ...],
                      created_at: datetime, updated_at: datetime) -> Item:
    return Item(value=value, key=key, namespace=namespace, created_at=created_at, updated_at=updated_at)


_new_item = Item.__new__
# Only while Item is the five-slot class this was written against; else its own constructor.
make_item = _item_fast if getattr(Item, "__slots__", None) == (
    "value", "key", "namespace", "created_at", "updated_at") else _item_constructed


@dataclass(slots=True, weakref_slot=True, eq=False)
class Call:
    """One caller: its agent (and that agent's lock, see ``bridge``), view scope and views.
    ``expired``: the scope may have had views that were dropped (see ``views.py``), so a write of
    an item it has not read since cannot be told from a stale one and is refused."""

    agent: Agent
    scope: str | None
    views: dict[str, Seen] = field(default_factory=dict)
    lock: Any = None
    expired: bool = False
    pinned_by: Any = None

    def __post_init__(self) -> None:
        self.lock = bridge.lock_of(self.agent)


def _log(store: CCSStore, call: Call, op: str, aid: str | None, ns: Any, key: Any, **fields: Any) -> None:
    rec = store._recorder
    if rec is not None:
        rec.write({"t": store._clock.now(), "agent": call.agent.name, "scope": call.scope, "op": op,
                   "artifact": aid, "namespace": None if ns is None else list(ns), "key": key, **fields,
                   "thread": f"{os.getpid()}/{threading.get_ident()}"})


def view_expired(store: CCSStore, call: Call, op: str, aid: str, ns: tuple[str, ...],
                 key: str) -> ViewExpired:
    err = ViewExpired(
        f"{call.agent.name} {op} {tuple(ns)!r}/{key!r} from a view scope whose reads were dropped "
        f"({call.scope}): it cannot be checked against what was read, so it was not applied",
        artifact=aid, recover="get() the item again and re-derive the value, or use "
        "store.update(namespace, key, fn)", namespace=list(ns), key=key, agent=call.agent.name,
        scope=call.scope)
    _log(store, call, op, aid, ns, key, seen=None, version=None, outcome="conflict",
         error=err.to_dict())
    return err


def stale_view(exc: VersionConflict, aid: str, ns: tuple[str, ...], key: str, agent: str,
               base: int) -> StaleView:
    err = StaleView(
        f"{agent} wrote {tuple(ns)!r}/{key!r} from a view of version {base}, but version "
        f"{exc.current_version} was committed since; the write was not applied",
        artifact=aid, current_version=exc.current_version, current_epoch=exc.current_epoch,
        recover="get() the item again and re-derive the value, or use store.update(namespace, key, fn)",
        namespace=list(ns), key=key, base_version=base, agent=agent)
    err.context = exc.context
    return err


class Ops:
    """Operations over one store; stateless apart from the store's caches."""

    def __init__(self, store: CCSStore) -> None:
        self.s = store

    # --- helpers ----------------------------------------------------------------------------

    def live_doc(self, call: Call, aid: str, digest: str | None, data: bytes | None,
                 version: int) -> tuple[Doc | None, float | None]:
        """The item's document if present and not expired, and its effective expiry."""
        if digest is None:
            return None, None
        doc = self.s._docs.peek(digest)
        if doc is None:
            if data is None:
                data = self.s.core.coordinator.backend.get_blob(digest)
                if data is None:
                    raise CorruptState(f"content {digest[:12]} of {aid!r} is missing", artifact=aid)
            doc = self.s._docs.get(digest, data)
        if doc.expires is None:
            return doc, None
        side = bridge.view(call.agent, lock=call.lock, artifact_id=ttl_id(aid))
        until = max(doc.expires, decode_ttl(side.data, version) or doc.expires) \
            if side.content.digest else doc.expires
        if self.s._clock.now() >= until:
            return None, until
        return doc, until

    def refresh_ttl(self, call: Call, aid: str, version: int, doc: Doc, until: float | None) -> None:
        if doc.ttl is None or until is None:
            return
        target = self.s._clock.now() + doc.ttl * 60.0
        if target - until >= min(1.0, doc.ttl * 0.6):
            bridge.blind_write(call.agent, call.lock, ttl_id(aid), encode_ttl(version, target))

    # --- get --------------------------------------------------------------------------------

    def get(self, call: Call, ns: tuple[str, ...], key: str, refresh: bool) -> Item | None:
        s = self.s
        aid = s._ids.encode(ns, key)
        agent = call.agent
        recorder = s._recorder
        with call.lock:  # bridge.view, inlined: the hottest call of the store
            if recorder is None:
                entry = agent.view(aid)
            else:  # counted under the lock: threads sharing the agent must not mislabel it
                hits = agent.stats.hits
                entry = agent.view(aid)
                hit = agent.stats.hits != hits
        digest = entry.content.digest
        if entry.version == 0 and s._inner is not None:
            entry = s._inner_link.adopt(call, aid, ns, key) or entry
            digest = entry.content.digest
        if digest is None:
            doc = until = None
        else:
            doc = s._docs.peek(digest)
            if doc is None or doc.expires is not None:
                doc, until = self.live_doc(call, aid, digest, entry.data, entry.version)
            else:
                until = None
        created = None if doc is None else doc.created_ns
        old = call.views.get(aid)
        if old is None or old[0] != entry.version or old[1] != created:
            call.views[aid] = Seen(entry.version, created, digest is not None)
        if recorder is not None:
            _log(s, call, "get", aid, ns, key, seen=entry.version, version=entry.version,
                 outcome=("absent" if doc is None else "hit" if hit else "miss"))
        if doc is None:
            return None
        if refresh and until is not None:
            self.refresh_ttl(call, aid, entry.version, doc, until)
        return make_item(copy_doc_value(doc), key, ns, doc.created_at, doc.updated_at)

    # --- put / delete -----------------------------------------------------------------------

    def put(self, call: Call, ns: tuple[str, ...], key: str, value: Any, index: Any, ttl: float | None,
            vectors: dict[str, list[float]] | None) -> None:
        s = self.s
        if not ns:
            raise NamespaceError("Namespace cannot be empty.")
        aid = s._ids.encode(ns, key)
        if value is None:
            return self.delete(call, ns, key, aid)
        if type(value) is not dict:  # a dict is encoded now and not kept: no copy needed
            if not isinstance(value, Mapping):
                raise InvalidValue(f"store values are dicts, got {type(value).__name__}", artifact=aid)
            value = dict(value)
        seen = call.views.get(aid)
        if seen is not None:
            payload, created = self._payload(aid, value, seen.created_ns, ttl, vectors, index)
            try:
                c = bridge.commit(call.agent, call.lock, aid, seen.version, payload)
            except VersionConflict as exc:
                if exc.context is not None:
                    exc.context.show, exc.context.next_call = merging.show_item, merging.NEXT_PUT
                if s._merge is not None:
                    return merging.put_merged(self, call, ns, key, aid, value, seen.version, exc,
                                              s._merge, ttl, index)
                err = stale_view(exc, aid, ns, key, call.agent.name, seen.version)
                _log(s, call, "put", aid, ns, key, seen=seen.version, version=None, outcome="conflict",
                     error=err.to_dict())
                raise err from None
        elif call.expired:
            raise view_expired(s, call, "put", aid, ns, key)
        else:
            c, created = self._blind(call, aid, ns, key, value, ttl, vectors, index)
        call.views[aid] = Seen(c.version, created, True)
        if s._recorder is not None:
            _log(s, call, "put", aid, ns, key, seen=None if seen is None else seen.version,
                 version=c.version, outcome="ok")
        if s._inner is not None:
            s._inner_link.materialize(aid, ns, key)

    def _payload(self, aid: str, value: dict, created_ns: int | None, ttl: float | None,
                 vectors: dict[str, list[float]] | None, index: Any) -> tuple[bytes, int]:
        s = self.s
        now_ns = s._hclock.stamp()
        created = created_ns if created_ns is not None else now_ns
        expires = None if ttl is None else s._clock.now() + ttl * 60.0
        extra = None if s._inner is None else index
        return encode_doc(value, created, now_ns, ttl, expires, vectors, aid, extra), created

    def _blind(self, call: Call, aid: str, ns: tuple[str, ...], key: str, value: dict,
               ttl: float | None, vectors: Any, index: Any) -> tuple[Any, int]:
        """Last write wins, but serialized: CAS against whatever version is current, retried."""
        for attempt in range(BLIND_RETRIES):
            entry = bridge.view(call.agent, lock=call.lock, artifact_id=aid, fresh=attempt > 0)
            doc, _ = self.live_doc(call, aid, entry.content.digest, entry.data, entry.version)
            payload, created = self._payload(aid, value, None if doc is None else doc.created_ns,
                                             ttl, vectors, index)
            try:
                return bridge.commit(call.agent, call.lock, aid, entry.version, payload), created
            except VersionConflict:
                time.sleep(random.uniform(0, 0.0005 * min(attempt + 1, 20)))
        raise RetriesExhausted(f"blind put of {aid!r} lost {BLIND_RETRIES} races in a row",
                               artifact=aid, attempts=BLIND_RETRIES)

    def delete(self, call: Call, ns: tuple[str, ...], key: str, aid: str) -> None:
        s = self.s
        seen = call.views.get(aid)
        if seen is not None:
            if not seen.stored:
                entry = bridge.view(call.agent, lock=call.lock, artifact_id=aid, fresh=True)
                if entry.version != seen.version:
                    exc = VersionConflict("moved", artifact=aid, current_version=entry.version,
                                          current_epoch=entry.epoch)
                    err = stale_view(exc, aid, ns, key, call.agent.name, seen.version)
                    _log(s, call, "delete", aid, ns, key, seen=seen.version, version=None,
                         outcome="conflict", error=err.to_dict())
                    raise err
                _log(s, call, "delete", aid, ns, key, seen=seen.version, version=seen.version,
                     outcome="noop")
                return
            try:
                c = bridge.commit(call.agent, call.lock, aid, seen.version, None)
            except VersionConflict as exc:
                err = stale_view(exc, aid, ns, key, call.agent.name, seen.version)
                _log(s, call, "delete", aid, ns, key, seen=seen.version, version=None,
                     outcome="conflict", error=err.to_dict())
                raise err from None
            version = c.version
        elif call.expired:
            raise view_expired(s, call, "delete", aid, ns, key)
        else:
            version = None
            for attempt in range(BLIND_RETRIES):
                entry = bridge.view(call.agent, lock=call.lock, artifact_id=aid, fresh=True)
                if entry.content.digest is None:
                    version = entry.version
                    break
                try:
                    version = bridge.commit(call.agent, call.lock, aid, entry.version, None).version
                    break
                except VersionConflict:
                    time.sleep(random.uniform(0, 0.0005 * min(attempt + 1, 20)))
            if version is None:
                raise RetriesExhausted(f"blind delete of {aid!r} lost {BLIND_RETRIES} races",
                                       artifact=aid, attempts=BLIND_RETRIES)
        call.views[aid] = Seen(version, None, False)
        _log(s, call, "delete", aid, ns, key, seen=None if seen is None else seen.version,
             version=version, outcome="ok")
        if s._inner is not None:
            s._inner_link.materialize(aid, ns, key)

    # --- search / list ------------------------------------------------------------------------

    def search(self, call: Call, op: SearchOp, query_vec: list[float] | None) -> list[SearchItem]:
        s = self.s
        if s._inner is not None:
            return s._inner_link.search(call, op)
        prefix = tuple(op.namespace_prefix)
        candidates: list[tuple[Any, Any]] = []
        for rec in s.core.coordinator.artifacts(s._ids.namespace_prefix(prefix)):
            digest = rec.content.digest
            if digest is None:
                continue
            decoded = s._ids.decode(rec.artifact_id)
            if decoded is None:
                continue
            doc = s._docs.peek(digest) or s._docs.get(digest, s.core.coordinator.fetch(rec.content))
            if doc.expires is not None:
                doc, _ = self.live_doc(call, rec.artifact_id, digest, None, rec.version)
                if doc is None:
                    continue
            if not matches_filter(doc.value, op.filter):
                continue
            candidates.append(((rec, decoded, doc), doc.vectors))
        candidates.sort(key=lambda c: (c[0][2].created_ns, c[0][0].artifact_id))
        page = rank(query_vec, candidates, op.limit, op.offset)
        out = []
        for (rec, (ns, key), doc), score in page:
            call.views[rec.artifact_id] = Seen(rec.version, doc.created_ns, True)
            if op.refresh_ttl and doc.ttl is not None:
                _, until = self.live_doc(call, rec.artifact_id, rec.content.digest, None, rec.version)
                self.refresh_ttl(call, rec.artifact_id, rec.version, doc, until)
            out.append(SearchItem(ns, key, copy_doc_value(doc), doc.created_at, doc.updated_at, score))
        _log(s, call, "search", None, prefix, None, outcome="ok", count=len(out),
             items=[[r.artifact_id, r.version] for (r, _, _), _ in page])
        return out

    def list_namespaces(self, call: Call, op: ListNamespacesOp) -> list[tuple[str, ...]]:
        s = self.s
        if s._inner is not None:
            result = s._inner.batch([op])[0]
        else:
            live: set[tuple[str, ...]] = set()
            for rec in s.core.coordinator.artifacts(s._ids.head + "["):
                if rec.content.digest is None:
                    continue
                decoded = s._ids.decode(rec.artifact_id)
                if decoded is None or decoded[0] in live:
                    continue
                doc = s._docs.peek(rec.content.digest) or s._docs.get(
                    rec.content.digest, s.core.coordinator.fetch(rec.content))
                if doc.expires is not None and self.live_doc(
                        call, rec.artifact_id, rec.content.digest, None, rec.version)[0] is None:
                    continue
                live.add(decoded[0])
            result = page_namespaces(live, op.match_conditions, op.max_depth, op.limit, op.offset)
        _log(s, call, "list_namespaces", None, None, None, outcome="ok", count=len(result))
        return result

    # --- read-modify-write -------------------------------------------------------------------

    def update(self, call: Call, ns: tuple[str, ...], key: str, fn: Any, retries: int,
               ttl: float | None, index: Any, embed: Any) -> dict[str, Any] | None:
        s = self.s
        aid = s._ids.encode(ns, key)
        last: CoherenceError | None = None
        for attempt in range(retries + 1):
            entry = bridge.view(call.agent, lock=call.lock, artifact_id=aid, fresh=attempt > 0)
            if entry.version == 0 and s._inner is not None:
                entry = s._inner_link.adopt(call, aid, ns, key) or entry
            doc, _ = self.live_doc(call, aid, entry.content.digest, entry.data, entry.version)
            new = fn(None if doc is None else copy_doc_value(doc))
            try:
                if new is None:
                    if entry.content.digest is None:
                        version = entry.version
                    else:
                        version = bridge.commit(call.agent, call.lock, aid, entry.version, None).version
                    call.views[aid] = Seen(version, None, False)
                else:
                    new = dict(new)
                    vectors = embed(new, index) if embed is not None else None
                    payload, created = self._payload(aid, new, None if doc is None else doc.created_ns,
                                                     ttl, vectors, index)
                    version = bridge.commit(call.agent, call.lock, aid, entry.version, payload).version
                    call.views[aid] = Seen(version, created, True)
            except VersionConflict as exc:
                last = exc
                _log(s, call, "update", aid, ns, key, seen=entry.version, version=None,
                     outcome="conflict", error=exc.to_dict())
                if attempt < retries:
                    time.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 5)))
                continue
            _log(s, call, "update", aid, ns, key, seen=entry.version, version=version, outcome="ok",
                 attempts=attempt + 1)
            if s._inner is not None:
                s._inner_link.materialize(aid, ns, key)
            return None if new is None else copy_value(new)
        raise RetriesExhausted(
            f"update of {ns!r}/{key!r} lost {retries + 1} races in a row", artifact=aid,
            current_version=None if last is None else last.current_version,
            attempts=retries + 1, last_error=None if last is None else last.to_dict())
