"""Several puts of one ``batch`` as one engine transaction.

A run of consecutive puts, by one caller, of items it has read (each checked against the version
it read, as a single put is), is committed with one ``transaction_commit``: one engine
transaction instead of one per put. When every item is still at the version read, all land at
once. When one moved, the transaction changes nothing and the run is replayed put by put, which is
exactly what a batch did before: the puts before the stale one land, the stale one raises (or is
merged, with a merge policy), the rest do not run. Anything else (a first write of an item, a
delete, the same item twice, an inner store to mirror, dropped views) is left to the single put.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ccs.adapters.langgraph.views import Seen
from ccs.protocol.errors import ConflictError

if TYPE_CHECKING:
    from ccs.adapters.langgraph.ops import Call, Ops

Put = tuple[tuple[str, ...], str, Any, Any, Any, Any]  # namespace, key, value, index, ttl, vectors


def put_together(ops: Ops, call: Call, puts: Sequence[Put]) -> bool:
    """Commit ``puts`` as one engine transaction; False (nothing applied) when they are not
    eligible or an item moved since it was read: the caller then runs them one by one."""
    from ccs.adapters.langgraph.ops import _log  # the per-put record, written the same way

    s = ops.s
    if s._inner is not None or call.expired or len(puts) < 2:
        return False
    prepared: dict[str, tuple[tuple[str, ...], str, Seen, bytes, int]] = {}
    for ns, key, value, index, ttl, vectors in puts:
        if not ns or not isinstance(value, Mapping):
            return False
        aid = s._ids.encode(ns, key)
        seen = call.views.get(aid)
        if seen is None or aid in prepared:
            return False
        payload, created = ops._payload(aid, dict(value), seen.created_ns, ttl, vectors, index)
        prepared[aid] = (ns, key, seen, payload, created)
    agent = call.agent
    with call.lock:
        txn = agent.transaction()
        for aid, (_, _, seen, payload, _) in prepared.items():
            entry = agent._cache.get(aid)  # fenced by the epoch it read at, as a single put is
            epoch = entry.epoch if entry is not None and entry.version == seen.version else None
            txn.reads[aid] = (seen.version, epoch)
            txn.writes[aid] = (payload, "bytes")
        try:
            result = txn.commit()
        except ConflictError:
            return False
    for aid, (ns, key, seen, _, created) in prepared.items():
        version = result.versions[aid].version
        call.views[aid] = Seen(version, created, True)
        _log(s, call, "put", aid, ns, key, seen=seen.version, version=version, outcome="ok")
    return True
