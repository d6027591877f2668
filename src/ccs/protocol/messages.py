"""What a transition hands back: the reply for the caller and the events for the bus."""

from __future__ import annotations

from typing import Any

import msgspec

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


class Step(msgspec.Struct, gc=False):
    """Result of one pure transition: records to store, the reply, events to publish.

    ``artifacts`` maps artifact ids to new records (``None`` removes one), ``agents`` agent ids
    to liveness records, ``owns`` ownership index entries ``(agent, artifact)`` to True (add) or
    False (remove). Mutable (liveness adds to a transition's step), unhashable, equal by fields;
    built in C, as one is built per transaction. ``gc=False``: a step holds records, events and
    a reply, never a reference back to itself."""

    reply: Any
    artifacts: dict[str, ArtifactRecord | None] = msgspec.field(default_factory=dict)
    agents: dict[str, AgentRecord | None] = msgspec.field(default_factory=dict)
    owns: dict[tuple[str, str], bool] = msgspec.field(default_factory=dict)
    events: list[Event] = msgspec.field(default_factory=list)
