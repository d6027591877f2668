"""Crash recovery of one agent: find what it may own through the ownership index, reclaim it.

The decisions are ``ccs.protocol.liveness.sweep_agent``'s; this module only chooses which records
each transaction locks. Normally: the agent's index entries (one range listing) and the artifacts
they name. When the liveness record counts entries the listing does not find, or an entry cannot
be read, the index is damaged: every artifact record is scanned for the agent's grants instead,
so a damaged index costs a scan and never leaves a dead agent's grant standing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ccs.backends import artifact_key, owns_key, owns_prefix
from ccs.protocol import liveness
from ccs.protocol.errors import CorruptState
from ccs.protocol.messages import ReclaimNote
from ccs.protocol.records import AgentRecord, ArtifactRecord

if TYPE_CHECKING:
    from ccs.coordinator.coordinator import Coordinator

ATTEMPTS = 3  # looks again when the agent took a grant after the sweep looked


def _locked(records: dict[str, Any]) -> dict[str, ArtifactRecord | None]:
    return {k[2:]: v for k, v in records.items() if k.startswith("a/")}


def sweep_one(coord: Coordinator, key: str, rec: Any, now: float) -> list[ReclaimNote]:
    """Reclaim the grants of the agent of liveness record ``key`` (read as ``rec``) if expired."""
    agent = key[2:]
    prefix = owns_prefix(agent)
    notes: list[ReclaimNote] = []
    for attempt in range(ATTEMPTS):
        if attempt:
            rec = coord.backend.get(key)
        if not isinstance(rec, AgentRecord) or not rec.expired(now):
            return notes
        listed = [k[len(prefix):] for k in coord.backend.keys(prefix)]
        if rec.indexed and not listed:  # counted before the listing, yet none found: damage
            return notes + _sweep_scanning(coord, key, agent, rec, now)
        entry_keys = {owns_key(agent, aid): aid for aid in listed}
        keys = [key, *entry_keys, *(artifact_key(a) for a in sorted(set(listed) | rec.owned))]
        try:
            notes.extend(coord._run(keys, lambda r, entries=entry_keys: liveness.sweep_agent(
                r[key], _locked(r), now,
                [aid for k, aid in entries.items() if r.get(k) is not None]), op="sweep"))
        except CorruptState:  # an entry that cannot be read names no artifact: scan them all
            return notes + _sweep_scanning(coord, key, agent, rec, now)
    return notes


def _sweep_scanning(coord: Coordinator, key: str, agent: str, rec: AgentRecord,
                    now: float) -> list[ReclaimNote]:
    """Reclaim by scanning every artifact record. ``rec`` was read before the scan: every grant
    it counted is visible to the scan, and entries counted since stay counted for the next sweep."""
    held = {r.artifact_id for _, r in coord.backend.records("a/")
            if isinstance(r, ArtifactRecord) and r.owner is not None and r.owner.agent == agent}
    keys = [key, *(artifact_key(a) for a in sorted(held | rec.owned))]
    return coord._run(keys, lambda r: liveness.sweep_agent(
        r[key], _locked(r), now, scanned=rec.indexed), op="sweep")
