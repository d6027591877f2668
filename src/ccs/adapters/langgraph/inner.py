"""``CCSStore(inner=...)``: keep the data in an existing store, coherence in the engine.

How writes stay consistent (the same scheme files use, DESIGN.md "materialize"):

1. **The engine decides.** A put is first a compare-and-set in the engine, exactly as without an
   inner store; the engine keeps the committed document (content by hash) as well as the version.
   A stale or losing write raises there and never reaches the inner store.
2. **Then the inner store is brought up to the engine** (:meth:`InnerLink.materialize`): read the
   engine's *current* version, write its content to the inner store (``put``, or ``delete``), then
   read the engine version again; if it moved meanwhile, repeat. A writer finishes only after it
   saw the version it wrote to the inner store still current *after* that write landed, so when
   all writers are done the inner store holds the latest committed version, whatever order their
   inner writes arrived in (a slow writer's late, older write is always followed by its own
   repair). Within one process writes to one item are also serialized by a striped lock.
3. **Reads go through the engine** (coherent, cached); an item the engine has never seen (written
   before the store was wrapped, or by a process not using ``CCSStore``) is *adopted* on first
   ``get``: imported with a compare-and-set against version 0, keeping its timestamps.
4. ``search`` and ``list_namespaces`` are answered by the inner store (its filters, its vector
   index, its TTL), then each hit's value is replaced by the engine's current one when the engine
   knows the item, and recorded in the caller's view like any read.

A crash between step 1 and 2 leaves the inner store one version behind for that item; reads
through ``CCSStore`` are unaffected, and :meth:`CCSStore.resync` (or the next write of the item)
repairs it. Writers that bypass ``CCSStore`` and write the inner store directly are outside the
guarantee: their writes are not versioned and may be overwritten by the next repair.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from langgraph.store.base import BaseStore, SearchItem, SearchOp

from ccs.adapters.langgraph import bridge
from ccs.adapters.langgraph.docs import copy_value, encode_doc
from ccs.adapters.langgraph.views import Seen
from ccs.client.agent import Entry
from ccs.protocol.errors import StateError, VersionConflict

if TYPE_CHECKING:
    from ccs.adapters.langgraph.ops import Call
    from ccs.adapters.langgraph.store import CCSStore

_STRIPES = 64
MATERIALIZE_ROUNDS = 64


def _ns(dt: Any) -> int:
    return int(dt.timestamp() * 1e9)


class InnerLink:
    def __init__(self, store: CCSStore, inner: BaseStore) -> None:
        self.s = store
        self.inner = inner
        self._locks = [threading.Lock() for _ in range(_STRIPES)]

    def adopt(self, call: Call, aid: str, ns: tuple[str, ...], key: str) -> Entry | None:
        """Import an item the engine has never seen from the inner store; None if it has none."""
        item = self.inner.get(ns, key, refresh_ttl=False)
        if item is None:
            return None
        payload = encode_doc(dict(item.value), _ns(item.created_at), _ns(item.updated_at), None, None,
                             None, aid)
        with contextlib.suppress(VersionConflict):  # if someone imported or wrote it first, theirs wins
            bridge.commit(call.agent, call.lock, aid, 0, payload)
        return bridge.view(call.agent, lock=call.lock, artifact_id=aid, fresh=True)

    def materialize(self, aid: str, ns: tuple[str, ...], key: str) -> None:
        """Write the engine's current version of the item to the inner store (see module doc)."""
        coordinator = self.s.core.coordinator
        with self._locks[hash(aid) % _STRIPES]:
            for _ in range(MATERIALIZE_ROUNDS):
                rec = coordinator.artifact(aid)
                if rec is None:
                    return
                if rec.content.digest is None:
                    self.inner.delete(ns, key)
                else:
                    doc = self.s._docs.peek(rec.content.digest) or self.s._docs.get(
                        rec.content.digest, coordinator.fetch(rec.content, aid))
                    ttl = doc.ttl if self.inner.supports_ttl else None
                    self.inner.put(ns, key, copy_value(doc.value), index=doc.index, ttl=ttl)
                after = coordinator.artifact(aid)
                if after is not None and after.version == rec.version:
                    return
        raise StateError(f"{aid!r} kept changing while it was written to the inner store; "
                         f"call resync() once writers settle", artifact=aid)

    def search(self, call: Call, op: SearchOp) -> list[SearchItem]:
        coordinator = self.s.core.coordinator
        out = []
        for hit in self.inner.batch([op])[0]:
            aid = self.s._ids.encode(tuple(hit.namespace), hit.key)
            rec = coordinator.artifact(aid)
            if rec is not None and rec.version > 0:
                if rec.content.digest is None:
                    continue  # deleted in the engine; the inner store is catching up
                doc = self.s._docs.peek(rec.content.digest) or self.s._docs.get(
                    rec.content.digest, coordinator.fetch(rec.content, aid))
                call.views[aid] = Seen(rec.version, doc.created_ns, True)
                out.append(SearchItem(tuple(hit.namespace), hit.key, copy_value(doc.value),
                                      doc.created_at, doc.updated_at, hit.score))
            else:
                call.views[aid] = Seen(0, _ns(hit.created_at), False)
                out.append(SearchItem(tuple(hit.namespace), hit.key, copy_value(dict(hit.value)),
                                      hit.created_at, hit.updated_at, hit.score))
        return out

    def resync(self) -> int:
        """Materialize every item the engine knows; returns how many were written."""
        n = 0
        for rec in self.s.core.coordinator.artifacts(self.s._ids.head + "["):
            decoded = self.s._ids.decode(rec.artifact_id)
            if decoded is not None and rec.version > 0:
                self.materialize(rec.artifact_id, *decoded)
                n += 1
        return n
