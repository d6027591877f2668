"""The records a coordinator keeps, and their MESI reading.

Records are immutable; a transition returns new ones. Content never lives in a record: a record
holds the content hash and size, and the bytes are stored by hash beside it. That keeps version
checks, grants and heartbeats from ever moving content.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from ccs.protocol.frozen import frozen

EMPTY: Mapping[str, int] = MappingProxyType({})


class Mesi(str, Enum):
    MODIFIED = "M"
    EXCLUSIVE = "E"
    SHARED = "S"
    INVALID = "I"


@frozen
class Grant:
    """Exclusive ownership of one artifact by one agent, issued at ``epoch``.

    ``dirty`` is the M/E distinction: the owner committed under this grant.
    """

    agent: str
    epoch: int
    granted_at: float
    dirty: bool = False


@frozen
class Reclaim:
    """Why crash recovery took a grant away, kept so the fenced agent is told precisely."""

    agent: str
    fenced_epoch: int
    reason: str
    at: float


@frozen
class Content:
    """What a commit writes: a hash, a size and a kind (``None`` hash means deleted)."""

    digest: str | None
    size: int
    kind: str  # "bytes" | "str" | "json" | "deleted"

    @property
    def deleted(self) -> bool:
        return self.digest is None


DELETED = Content(None, 0, "deleted")


@frozen
class ArtifactRecord:
    """Directory entry of one artifact.

    ``version`` counts commits (0: never written). ``epoch`` is the ownership fence: it advances
    whenever crash recovery reclaims a grant, so a view or grant taken before the reclaim can no
    longer commit even when the version did not move. ``seq`` numbers every event the record
    produced, so a subscriber can detect a missed invalidation. ``sharers`` maps each agent with a
    copy to the version it holds. ``history`` keeps the hashes of retained older versions.
    ``commits`` remembers recent idempotency ids and the version and epoch each committed at.
    """

    artifact_id: str
    version: int = 0
    epoch: int = 0
    seq: int = 0
    content: Content = DELETED
    owner: Grant | None = None
    sharers: Mapping[str, int] = EMPTY
    history: tuple[tuple[int, str], ...] = ()
    commits: tuple[tuple[str, int, int], ...] = ()
    last_reclaim: Reclaim | None = None
    updated_at: float = 0.0
    updated_by: str | None = None

    @property
    def exists(self) -> bool:
        return self.version > 0 and not self.content.deleted

    def view_of(self, agent: str) -> Mesi:
        owner = self.owner
        if owner is not None and owner.agent == agent:
            return Mesi.MODIFIED if owner.dirty else Mesi.EXCLUSIVE
        if self.sharers.get(agent) == self.version:
            return Mesi.SHARED
        return Mesi.INVALID

    def committed(self, commit_id: str) -> tuple[int, int] | None:
        """(version, epoch) the commit with this idempotency id produced, if still remembered."""
        commits = self.commits
        if commit_id not in map(itemgetter(0), commits):  # scanned in C: the common case is new
            return None
        for cid, version, epoch in commits:
            if cid == commit_id:
                return version, epoch
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.artifact_id,
            "version": self.version,
            "epoch": self.epoch,
            "seq": self.seq,
            "content": [self.content.digest, self.content.size, self.content.kind],
            "owner": None if self.owner is None else [
                self.owner.agent, self.owner.epoch, self.owner.granted_at, self.owner.dirty
            ],
            "sharers": dict(self.sharers),
            "history": [list(h) for h in self.history],
            "commits": [list(c) for c in self.commits],
            "last_reclaim": None if self.last_reclaim is None else [
                self.last_reclaim.agent, self.last_reclaim.fenced_epoch,
                self.last_reclaim.reason, self.last_reclaim.at,
            ],
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> ArtifactRecord:
        digest, size, kind = d["content"]
        owner = d.get("owner")
        rec = d.get("last_reclaim")
        return ArtifactRecord(
            artifact_id=d["id"],
            version=int(d["version"]),
            epoch=int(d["epoch"]),
            seq=int(d["seq"]),
            content=Content(digest, int(size), kind),
            owner=None if owner is None else Grant(owner[0], int(owner[1]), owner[2], bool(owner[3])),
            sharers=MappingProxyType({str(k): int(v) for k, v in d.get("sharers", {}).items()}),
            history=tuple((int(v), str(h)) for v, h in d.get("history", ())),
            commits=tuple((str(c), int(v), int(e)) for c, v, e in d.get("commits", ())),
            last_reclaim=None if rec is None else Reclaim(rec[0], int(rec[1]), rec[2], rec[3]),
            updated_at=d.get("updated_at", 0.0),
            updated_by=d.get("updated_by"),
        )


@frozen
class AgentRecord:
    """Liveness of one agent: it is alive until ``expires_at`` unless it heartbeats.

    The artifacts it may hold grants on are found through the ownership index: one small
    :class:`OwnershipEntry` per (agent, artifact), stored beside the record, so taking a grant
    writes one key whatever the agent already owns. ``indexed`` counts the agent's entries; the
    sweep compares it with the entries it found, so an entry added after it looked, or a missing
    one, is never mistaken for "nothing left" (``ccs.protocol.liveness``). ``owned`` is the list
    the previous layout kept in the record itself: still read (and reclaimed), never extended.
    """

    agent_id: str
    expires_at: float
    ttl: float
    owned: frozenset[str] = frozenset()
    indexed: int = 0

    def expired(self, now: float) -> bool:
        return now > self.expires_at

    def to_dict(self) -> dict[str, Any]:
        # No "owned" key unless legacy entries remain: a release that predates the index then
        # fails closed (corrupt_state) on these records rather than read them as owning nothing.
        d: dict[str, Any] = {"agent": self.agent_id, "expires_at": self.expires_at, "ttl": self.ttl}
        if self.owned:
            d["owned"] = sorted(self.owned)
        if self.indexed:
            d["indexed"] = self.indexed
        return d

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> AgentRecord:
        indexed = int(d.get("indexed", 0))
        if indexed < 0:
            raise ValueError(f"negative ownership count {indexed}")
        return AgentRecord(d["agent"], float(d["expires_at"]), float(d["ttl"]),
                           frozenset(str(a) for a in d.get("owned", ())), indexed)


@frozen
class OwnershipEntry:
    """One entry of the ownership index: ``agent`` may hold the grant on ``artifact_id``.

    A superset, like the list it replaces: a grant lost to a peer leaves its entry until the
    sweep. The artifact record's owner is the truth; an entry only tells the sweep where to look.
    """

    agent: str
    artifact_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "artifact": self.artifact_id}

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> OwnershipEntry:
        return OwnershipEntry(str(d["agent"]), str(d["artifact"]))
