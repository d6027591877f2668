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

import msgspec

EMPTY: Mapping[str, int] = MappingProxyType({})


class Frozen(msgspec.Struct, frozen=True, gc=False):
    """Base of the protocol's immutable records (a C implementation: cheap to build).

    Every commit builds a handful of records (the artifact record, its reply, an audit entry,
    ...), so their construction is on the hot path. ``msgspec.Struct`` with ``frozen=True`` gives
    what the protocol relies on: assigning or deleting a field raises ``AttributeError``;
    equality (same class only), hashing (when every field is hashable), ``repr``, pickling and
    copying by field values; positional and keyword construction in field order;
    ``__match_args__``. Subclasses inherit the options. ``gc=False``: records hold only strings,
    numbers, tuples, mappings and other records, never a reference back to themselves, so the
    cycle collector need not track them. Defaults must be immutable (they are shared).
    ``msgspec.structs.replace``/``fields`` stand in for the ``dataclasses`` functions.
    """


class Mesi(str, Enum):
    MODIFIED = "M"
    EXCLUSIVE = "E"
    SHARED = "S"
    INVALID = "I"


class Grant(Frozen):
    """Exclusive ownership of one artifact by one agent, issued at ``epoch``.

    ``dirty`` is the M/E distinction: the owner committed under this grant.
    """

    agent: str
    epoch: int
    granted_at: float
    dirty: bool = False


class Reclaim(Frozen):
    """Why crash recovery took a grant away, kept so the fenced agent is told precisely."""

    agent: str
    fenced_epoch: int
    reason: str
    at: float


class Content(Frozen):
    """What a commit writes: a hash, a size and a kind (``None`` hash means deleted)."""

    digest: str | None
    size: int
    kind: str  # "bytes" | "str" | "json" | "deleted"

    @property
    def deleted(self) -> bool:
        return self.digest is None


DELETED = Content(None, 0, "deleted")


class ArtifactRecord(Frozen):
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
        """The stored body's value. ``history`` and ``commits`` hold their tuples as they are:
        both JSON writers write a tuple as the array a list would be, and copying 32 commit ids
        into lists was most of this method's cost."""
        content, owner, reclaim, sharers = self.content, self.owner, self.last_reclaim, self.sharers
        return {
            "id": self.artifact_id,
            "version": self.version,
            "epoch": self.epoch,
            "seq": self.seq,
            "content": [content.digest, content.size, content.kind],
            "owner": None if owner is None else [owner.agent, owner.epoch, owner.granted_at, owner.dirty],
            # .copy(): a dict's own copy, several times faster than dict() of a mapping proxy
            "sharers": sharers.copy() if sharers.__class__ in _COPYABLE else dict(sharers),
            "history": list(self.history),
            "commits": list(self.commits),
            "last_reclaim": None if reclaim is None else [
                reclaim.agent, reclaim.fenced_epoch, reclaim.reason, reclaim.at,
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
            d["id"], int(d["version"]), int(d["epoch"]), int(d["seq"]),
            Content(digest, int(size), kind),
            None if owner is None else Grant(owner[0], int(owner[1]), owner[2], bool(owner[3])),
            *_lists(d),
            None if rec is None else Reclaim(rec[0], int(rec[1]), rec[2], rec[3]),
            d.get("updated_at", 0.0),
            d.get("updated_by"),
        )


class _Lists(msgspec.Struct, gc=False):
    """The three lists of a stored artifact record, as encoding writes them (the decode schema of
    :func:`_lists`; the other keys of the body are ignored)."""

    sharers: dict[str, int] = {}
    history: tuple[tuple[int, str], ...] = ()
    commits: tuple[tuple[str, int, int], ...] = ()


def _lists(d: Mapping[str, Any]) -> tuple[Mapping[str, int], tuple[tuple[int, str], ...],
                                          tuple[tuple[str, int, int], ...]]:
    """``sharers``, ``history`` and ``commits`` of a stored record, checked and built in C.

    Most of a record's body is in these lists (32 remembered commit ids by default), and
    converting them element by element in Python was most of ``from_dict``. msgspec accepts a
    list only when every element already has its type (what encoding writes) and returns the
    same values; any other body takes the element-by-element path, which converts what it can
    (``int("3")``, a float version) and raises on the rest, as ``from_dict`` always did.
    """
    try:
        lists = _convert(d, _Lists)
    except _Invalid:
        sharers = d.get("sharers", EMPTY)
        if not isinstance(sharers, Mapping):
            raise TypeError(f"sharers is not an object: {sharers!r}") from None
        return (MappingProxyType({str(k): int(v) for k, v in sharers.items()}),
                tuple((int(v), str(h)) for v, h in d.get("history", ())),
                tuple((str(c), int(v), int(e)) for c, v, e in d.get("commits", ())))
    return MappingProxyType(lists.sharers) if lists.sharers else EMPTY, lists.history, lists.commits


_convert = msgspec.convert
_Invalid = msgspec.ValidationError
_COPYABLE = (MappingProxyType, dict)  # whose .copy() is a plain dict of the same items


class AgentRecord(Frozen):
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


class OwnershipEntry(Frozen):
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
