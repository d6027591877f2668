"""Audit entries: what happened to an artifact, as the engine recorded it.

Pure data, no I/O. The coordinator derives entries from a transition (``entries_for``) and hands
them to the engine with the records they describe, so a commit and its entry land in one engine
transaction or not at all; a refusal, which changes no record, is appended on its own after the
transaction (``Backend.append_audit``). Each engine keeps, per artifact, the entries of its latest
``retain`` versions (``Limits.audit_retain``): the ones whose ``version`` is above
``newest - retain``, trimmed in batches (``AuditBatch.trims``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ccs.protocol.ids import agent_name
from ccs.protocol.records import ArtifactRecord, Frozen

COMMITTED, DELETED, REFUSED, RECLAIMED = "committed", "deleted", "refused", "reclaimed"
_RANK = {COMMITTED: 0, DELETED: 0, RECLAIMED: 1}  # the commit, a reclaim, then refusals
# json.dumps(d, separators=(",", ":")), without building an encoder per call (an entry per commit)
_encode_json = json.JSONEncoder(separators=(",", ":")).encode

TRIM_BATCHES = 16  # an artifact's log is trimmed every retain // TRIM_BATCHES versions


class AuditEntry(Frozen):
    """One change (or refused change) of one artifact.

    ``op`` is the coordinator operation (``write``, ``commit``, ``cas``, ``transaction``,
    ``sweep``); ``outcome`` is ``committed``, ``deleted``, ``refused`` or ``reclaimed``.
    ``base_version`` is the version the change replaced (a commit) or claimed to derive from (a
    refusal); ``version`` and ``epoch`` are the artifact's afterwards (for a refusal: the current
    ones it was refused against). ``agent`` is the coordinator's agent id (``name@instance``);
    for a reclaim it is the agent whose grant was taken. ``code`` is the refusal's error code,
    ``reason`` a reclaim's reason or a refusal's message, ``digest`` the new content's hash.
    """

    at: float
    artifact: str
    op: str
    outcome: str
    agent: str | None
    base_version: int | None
    version: int
    epoch: int
    code: str = ""
    commit_id: str | None = None
    reason: str = ""
    digest: str | None = None

    @property
    def agent_name(self) -> str | None:
        return None if self.agent is None else agent_name(self.agent)

    def sort_key(self) -> tuple[int, bool, int, int, float]:
        """Order within one artifact, from the store's own counters: by version, the commit that
        made a version before what happened at it, then by epoch (a reclaim before the refusals
        at its epoch), and only then by time, which orders only refusals against one (version,
        epoch): clocks of different hosts never reorder commits or reclaims."""
        rank = _RANK.get(self.outcome, 2)
        return (self.version, rank > 0, self.epoch, rank, self.at)

    def to_dict(self) -> dict[str, Any]:
        agent = self.agent
        return {
            "at": self.at, "artifact": self.artifact, "op": self.op, "outcome": self.outcome,
            "agent": agent, "agent_name": None if agent is None else agent_name(agent),
            "base_version": self.base_version,
            "version": self.version, "epoch": self.epoch, "code": self.code,
            "commit_id": self.commit_id, "reason": self.reason, "digest": self.digest,
        }

    def encode(self) -> str:
        return _encode_json(self.to_dict())

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> AuditEntry:
        base = d.get("base_version")
        return AuditEntry(
            float(d["at"]), str(d["artifact"]), str(d["op"]), str(d["outcome"]), d.get("agent"),
            None if base is None else int(base), int(d["version"]), int(d["epoch"]),
            str(d.get("code") or ""), d.get("commit_id"), str(d.get("reason") or ""), d.get("digest"))

    @staticmethod
    def decode(text: str | bytes) -> AuditEntry:
        return AuditEntry.from_dict(json.loads(text))


class AuditBatch(Frozen):
    """Entries for an engine to store, and how many versions of each artifact's log to keep."""

    entries: tuple[AuditEntry, ...]
    retain: int

    def trims(self) -> dict[str, int]:
        """Per artifact, the highest version whose entries may go (``version <= bound``).

        Trimming deletes rows, which costs an engine about what the insert does, so it runs in
        batches: when a version is a multiple of ``retain // TRIM_BATCHES`` (every version for a
        small ``retain``). An artifact's log thus holds its latest ``retain`` versions and at most
        ``retain // TRIM_BATCHES`` more. (The memory and SQLite engines apply
        this rule inline for a commit's single entry.)"""
        step = max(1, self.retain // TRIM_BATCHES)
        out: dict[str, int] = {}
        for e in self.entries:
            bound = e.version - self.retain
            if bound > 0 and e.version % step == 0 and bound > out.get(e.artifact, 0):
                out[e.artifact] = bound
        return out


def entries_for(op: str, agent: str | None, before: Mapping[str, ArtifactRecord | None],
                after: Mapping[str, ArtifactRecord | None], now: float, commit_id: str | None = None
                ) -> list[AuditEntry]:
    """The entries a transition's changed records call for: a new version is a commit (or a
    delete), an advanced epoch a reclaim, a removed record (``None``: a pruned effect outbox
    record) a delete of the version it held. Registrations, grants and releases log nothing."""
    out = []
    for aid, new in after.items():
        old = before.get(aid)
        old_version = 0 if old is None else old.version
        old_epoch = 0 if old is None else old.epoch
        if new is None:
            if old is not None:
                out.append(AuditEntry(now, aid, op, DELETED, agent, old_version, old_version,
                                      old_epoch, commit_id=commit_id))
        elif new.version != old_version:
            digest = new.content.digest  # every field positional: the hot path of every commit
            out.append(AuditEntry(now, aid, op, DELETED if digest is None else COMMITTED, agent,
                                  old_version, new.version, new.epoch, "", commit_id, "", digest))
        elif new.epoch != old_epoch and new.last_reclaim is not None:
            r = new.last_reclaim
            out.append(AuditEntry(now, aid, op, RECLAIMED, r.agent, new.version, new.version,
                                  new.epoch, reason=r.reason))
    return out


def refusals(op: str, agent: str, records: Mapping[str, ArtifactRecord | None],
             bases: Mapping[str, int | None], code: str, message: str, now: float,
             commit_id: str | None = None) -> list[AuditEntry]:
    """One entry per artifact a refused change would have written, against its current state."""
    out = []
    for aid, base in sorted(bases.items()):
        rec = records.get(aid)
        out.append(AuditEntry(now, aid, op, REFUSED, agent, base,
                              0 if rec is None else rec.version, 0 if rec is None else rec.epoch,
                              code=code, commit_id=commit_id, reason=message))
    return out


def select(entries: Iterable[AuditEntry], artifact: str | None, since: float | None,
           limit: int | None) -> list[AuditEntry]:
    """Entries at or after ``since``, in the order they happened (one artifact's by version,
    several artifacts' by time), the latest ``limit`` of them."""
    found = [e for e in entries if since is None or e.at >= since]
    if artifact is not None:
        found.sort(key=AuditEntry.sort_key)
    else:
        found.sort(key=lambda e: (e.at, e.artifact, e.sort_key()))
    if limit is not None:
        found = found[-limit:] if limit > 0 else []
    return found


def ordered(entries: Sequence[AuditEntry]) -> list[AuditEntry]:
    """One artifact's entries in the order they happened (see ``AuditEntry.sort_key``)."""
    return sorted(entries, key=AuditEntry.sort_key)
