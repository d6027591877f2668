"""Merge on refusal: a write refused as stale is merged with what landed since, then committed.

base = the exact content of the version the write was derived from (the agent's cached copy,
checked against that version's hash, else a version the engine still retains; if neither, the
refusal stands as ``MergeBaseUnavailable``: no merge is guessed). theirs = the current content,
yours = the write. A clean merge commits as an ordinary compare-and-set against the current
version, fenced like any other; if that loses a race too, the merge is redone against the newer
current version (same base, same write), at most ``retries`` times. Overlapping edits raise
``MergeConflict``; nothing is written either way.
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import TYPE_CHECKING, Any

from ccs.client.codec import decode, encode
from ccs.merge.packet import RefusalContext
from ccs.merge.three_way import MergeFn, check_how, merge_values
from ccs.protocol.errors import (
    ConflictError,
    GrantReclaimed,
    MergeBaseUnavailable,
    MergeConflict,
    RetriesExhausted,
    StaleEpoch,
    StaleView,
    VersionConflict,
)

if TYPE_CHECKING:
    from ccs.client.agent import Agent, Entry

# Refusals a merge answers: the version (or the epoch) moved since the write's base.
MERGEABLE = (StaleView, VersionConflict, StaleEpoch, GrantReclaimed)


class MergedVersion(int):
    """The version a write landed at (an ``int``), and whether it got there by merging:
    ``merged`` is True when the write was refused as stale and its merge with ``theirs_version``
    (the version it was merged with) committed; ``base_version`` is the version it derived from."""

    merged: bool
    base_version: int
    theirs_version: int | None
    value: Any  # what was committed: the merge, or the write itself when no merge was needed

    def __new__(cls, version: int, merged: bool, base_version: int,
                theirs_version: int | None = None, value: Any = None) -> MergedVersion:
        out = super().__new__(cls, version)
        out.merged, out.base_version, out.theirs_version = merged, base_version, theirs_version
        out.value = value
        return out

    __str__ = int.__repr__  # print(version) shows the number

    def __repr__(self) -> str:
        how = f"merged with v{self.theirs_version}" if self.merged else "no merge needed"
        return f"MergedVersion({int(self)}, {how}, base v{self.base_version})"


def cached_base(entry: Entry | None, version: int) -> tuple[bytes | None, str] | None:
    """``(content, kind)`` of ``version`` from the agent's cached copy if it holds exactly that
    version's bytes (the hash is checked), else None."""
    if entry is None or entry.version != version:
        return None
    if entry.content.digest is None:
        return None, "deleted"
    data = entry.data
    if data is None or hashlib.sha256(data).hexdigest() != entry.content.digest:
        return None
    return data, entry.content.kind


def attach(exc: ConflictError, agent: Agent, artifact_id: str, base_version: int | None,
           entry: Entry | None, payload: tuple[bytes, str] | None) -> None:
    """Give a refusal the context its conflict packet is rendered from (costs no engine call)."""
    if exc.context is not None:
        return
    data, kind = (None, "deleted") if payload is None else payload
    base = None if base_version is None else cached_base(entry, base_version)
    exc.context = RefusalContext(artifact_id, base_version, data, kind, agent.coordinator, base)


def write(agent: Agent, artifact_id: str, value: Any, how: str | MergeFn, retries: int) -> MergedVersion:
    """``agent.write(artifact_id, value)``, merging on a stale refusal (module docstring)."""
    how = check_how(how)
    entry = agent._lookup(artifact_id)
    base_version = 0 if entry is None else entry.version
    base = cached_base(entry, base_version)
    try:
        return MergedVersion(agent.write(artifact_id, value), False, base_version, value=value)
    except MERGEABLE as exc:
        if base_version == 0:
            raise  # never read (or read as absent): there is no base to merge against
        return _merge(agent, artifact_id, value, how, base_version, base, exc, retries)


def commit_cas(agent: Agent, artifact_id: str, expected_version: int, value: Any,
               how: str | MergeFn, retries: int) -> MergedVersion:
    """``agent.commit_cas``, merging on a refusal with ``expected_version`` as the base."""
    how = check_how(how)
    base = cached_base(agent._lookup(artifact_id), expected_version)
    try:
        return MergedVersion(agent.commit_cas(artifact_id, expected_version, value), False,
                             expected_version, value=value)
    except MERGEABLE as exc:
        if expected_version == 0:
            raise
        return _merge(agent, artifact_id, value, how, expected_version, base, exc, retries)


def _merge(agent: Agent, artifact_id: str, value: Any, how: str | MergeFn, base_version: int,
           base: tuple[bytes | None, str] | None, refusal: ConflictError, retries: int
           ) -> MergedVersion:
    payload = encode(value, artifact_id)
    if base is None:
        data = agent.coordinator.content_at(artifact_id, base_version)
        # a retained version's kind is not recorded: it is read as the write's kind
        base = None if data is None else (data, payload[1])
    try:
        base_value = None if base is None else decode(*base)
    except ValueError:  # JSON that does not parse, text that is not UTF-8: not the write's kind
        base = None
    if base is None:
        err = MergeBaseUnavailable(
            f"cannot merge the write to {artifact_id!r}: the content of version {base_version} it "
            "was derived from is no longer retained, or not of the write's kind (nothing was "
            "written)", artifact=artifact_id, current_version=refusal.current_version,
            current_epoch=refusal.current_epoch, base_version=base_version)
        err.context = refusal.context
        raise err from refusal
    last: ConflictError = refusal
    for attempt in range(retries + 1):
        cur = agent.read_with_version(artifact_id, None)
        theirs = cur.value if cur.exists else None
        try:
            merged = merge_values(payload[1], base_value, theirs, value, how)
        except MergeConflict as exc:
            err = MergeConflict(
                f"cannot merge the write to {artifact_id!r} (derived from version {base_version}) "
                f"with version {cur.version}: {exc.message}; nothing was written",
                artifact=artifact_id, current_version=cur.version, current_epoch=cur.epoch,
                base_version=base_version, regions=exc.details.get("regions", []))
            err.context = RefusalContext(artifact_id, base_version, payload[0], payload[1],
                                         agent.coordinator, base)
            raise err from exc
        if merged is None and not cur.exists:  # deleted since, and the write changed nothing
            return MergedVersion(cur.version, True, base_version, cur.version, None)
        try:
            version = agent.commit_cas(artifact_id, cur.version, merged)
            return MergedVersion(version, True, base_version, cur.version, merged)
        except MERGEABLE as exc:
            last = exc
            time.sleep(random.uniform(0, 0.001 * 2 ** min(attempt, 6)))
    raise RetriesExhausted(
        f"merged write to {artifact_id!r} lost {retries + 1} races in a row (nothing was written)",
        artifact=artifact_id, current_version=last.current_version,
        current_epoch=last.current_epoch, attempts=retries + 1, last_error=last.to_dict())
