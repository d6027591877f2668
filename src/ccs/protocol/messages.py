"""What a transition hands back: the reply for the caller and the events for the bus."""

from __future__ import annotations

from typing import Any

from ccs.protocol.records import AgentRecord, ArtifactRecord, Content, Frozen, Mesi


class Event(Frozen):
    """One change other agents should hear about.

    ``kind`` is ``invalidate`` (a commit or an exclusive acquire: drop your copy), ``downgrade``
    (a peer read: you keep a valid copy but lose the grant) or ``reclaim`` (crash recovery took
    your grant). ``seq`` is the artifact's event counter: contiguous per artifact, so a gap tells
    a subscriber it missed something.
    """

    kind: str
    artifact: str
    version: int
    epoch: int
    seq: int
    by: str | None
    targets: tuple[str, ...]
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "artifact": self.artifact, "version": self.version,
            "epoch": self.epoch, "seq": self.seq, "by": self.by,
            "targets": list(self.targets), "reason": self.reason,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Event:
        return Event(d["kind"], d["artifact"], int(d["version"]), int(d["epoch"]), int(d["seq"]),
                     d.get("by"), tuple(d.get("targets", ())), d.get("reason", ""))


class View(Frozen):
    """An agent's view of an artifact after an operation.

    ``modified`` says the version differs from the one the caller said it holds, i.e. the
    caller needs the content; when False the caller's copy is current and no content moves.
    """

    artifact: str
    version: int
    epoch: int
    seq: int
    content: Content
    state: Mesi
    modified: bool

    @property
    def exists(self) -> bool:
        return self.version > 0 and not self.content.deleted


class Committed(Frozen):
    artifact: str
    version: int
    epoch: int
    seq: int
    content: Content
    duplicate: bool = False
    superseded: bool = False  # a duplicate whose version was since replaced: content is not its own


class TxnCommitted(Frozen):
    versions: dict[str, Committed]
    duplicate: bool = False


class ReclaimNote(Frozen):
    agent: str
    artifact: str
    fenced_epoch: int
    new_epoch: int
    reason: str


class Step:
    """Result of one pure transition: records to store, the reply, events to publish.

    ``artifacts`` maps artifact ids to new records (``None`` removes one), ``agents`` agent ids
    to liveness records, ``owns`` ownership index entries ``(agent, artifact)`` to True (add) or
    False (remove). A plain class: one is built per transaction, so its ``__init__`` is kept to
    plain assignments."""

    __slots__ = ("agents", "artifacts", "events", "owns", "reply")

    def __init__(self, reply: Any, artifacts: dict[str, ArtifactRecord | None] | None = None,
                 agents: dict[str, AgentRecord | None] | None = None,
                 owns: dict[tuple[str, str], bool] | None = None,
                 events: list[Event] | None = None) -> None:
        self.reply = reply
        self.artifacts = {} if artifacts is None else artifacts
        self.agents = {} if agents is None else agents
        self.owns = {} if owns is None else owns
        self.events = [] if events is None else events

    def __repr__(self) -> str:
        return (f"Step(reply={self.reply!r}, artifacts={self.artifacts!r}, agents={self.agents!r}, "
                f"owns={self.owns!r}, events={self.events!r})")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Step:
            return NotImplemented
        return (self.reply, self.artifacts, self.agents, self.owns, self.events) == (
            other.reply, other.artifacts, other.agents, other.owns, other.events)  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass it replaces
