"""What a transition hands back: the reply for the caller and the events for the bus."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ccs.protocol.records import AgentRecord, ArtifactRecord, Content, Mesi


@dataclass(frozen=True, slots=True)
class Event:
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


@dataclass(frozen=True, slots=True)
class View:
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


@dataclass(frozen=True, slots=True)
class Committed:
    artifact: str
    version: int
    epoch: int
    seq: int
    content: Content
    duplicate: bool = False
    superseded: bool = False  # a duplicate whose version was since replaced: content is not its own


@dataclass(frozen=True, slots=True)
class TxnCommitted:
    versions: dict[str, Committed]
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class ReclaimNote:
    agent: str
    artifact: str
    fenced_epoch: int
    new_epoch: int
    reason: str


@dataclass(slots=True)
class Step:
    """Result of one pure transition: records to store, the reply, events to publish."""

    reply: Any
    artifacts: dict[str, ArtifactRecord | None] = field(default_factory=dict)  # None removes
    agents: dict[str, AgentRecord | None] = field(default_factory=dict)
    # ownership index entries: (agent, artifact) -> True adds the entry, False removes it
    owns: dict[tuple[str, str], bool] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
