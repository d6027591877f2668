"""``CCSStore(merge=...)``: a stale ``put`` merged with what landed since, instead of refused.

The base is the item's value at the version the caller's view saw (its envelope holds timestamps
and vectors too; only the value is merged), theirs the current value, yours the put. The merge is
committed through the store's own read-modify-write (``Ops.update``): a compare-and-set against
the current version, redone on the newer value if a peer wins that race too. Overlapping changes
raise ``MergeConflict`` (with the namespace and key) and nothing is written.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ccs.adapters.langgraph.docs import decode_doc
from ccs.merge.packet import as_text, pretty_json, with_packet
from ccs.merge.three_way import merge_values
from ccs.protocol.errors import CoherenceError, MergeBaseUnavailable, MergeConflict, VersionConflict

if TYPE_CHECKING:
    from ccs.adapters.langgraph.ops import Call, Ops

MERGE_RETRIES = 8
NEXT_PUT = ("put the item again: its current value (your base with the changes above) with your "
            "change applied; it is at version {version} now")



def show_item(content: tuple[bytes | None, str] | None) -> str | None:
    """A stored item as a conflict packet's diff shows it: its value, not its stored envelope."""
    if content is None or content[0] is None or content[1] == "deleted":
        return as_text(content)
    return pretty_json(decode_doc(content[0]).value)


def put_merged(ops: Ops, call: Call, ns: tuple[str, ...], key: str, aid: str, value: dict,
               seen_version: int, refusal: VersionConflict, how: Any, ttl: float | None,
               index: Any) -> None:
    ctx = refusal.context
    base = None if ctx is None else ctx.content(seen_version)
    if base is None or base[0] is None:
        err = MergeBaseUnavailable(
            f"cannot merge the put of {ns!r}/{key!r}: the item at version {seen_version} it was "
            "derived from is no longer retained (nothing was written)", artifact=aid,
            current_version=refusal.current_version, current_epoch=refusal.current_epoch,
            namespace=list(ns), key=key, base_version=seen_version)
        err.context = ctx
        raise err from refusal
    base_value = decode_doc(base[0]).value
    s = ops.s
    embed = s._embed_value if s._embeddings is not None else None
    try:
        ops.update(call, ns, key, lambda current: merge_values("json", base_value, current, value, how),
                   MERGE_RETRIES, ttl, index, embed)
    except MergeConflict as exc:
        err = MergeConflict(
            f"cannot merge the put of {ns!r}/{key!r} (derived from version {seen_version}) with "
            f"the current item: {exc.message}; nothing was written", artifact=aid,
            current_version=call.agent.cached_version(aid), namespace=list(ns), key=key,
            base_version=seen_version, regions=exc.details.get("regions", []),
            recover="get() the item, resolve the keys listed in details.regions, and put again")
        if ctx is not None:
            err.context = ctx
        raise err from exc


def conflict_tool_error(err: CoherenceError) -> str:
    """For ``ToolNode(tools, handle_tool_errors=conflict_tool_error)``: a store refusal raised
    inside a tool becomes the tool's result, a JSON object with ``ok: false``, the error's code and
    ``recover`` hint and, for a refused write, its ``conflict_packet``, so the model can resolve
    it in its next turn. Only ``CoherenceError``s are handled (LangGraph reads the annotation);
    any other exception propagates as before."""
    payload = {"ok": False, **err.to_dict()}
    return json.dumps(with_packet(payload, err), ensure_ascii=False, default=str)
