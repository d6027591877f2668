"""What a replay found: the violations of each checked invariant, and notes on what it left
undecided."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ccs.replay.source import Event


@dataclass
class Violation:
    invariant: str
    artifact: str | None
    message: str
    events: list[Event] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"invariant": self.invariant, "artifact": self.artifact, "message": self.message,
                "operations": [e.to_dict() for e in self.events]}


@dataclass
class Report:
    operations: int
    artifacts: int
    checked: list[str]
    violations: list[Violation]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(self.checked, 0)
        for v in self.violations:
            out[v.invariant] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "operations": self.operations, "artifacts": self.artifacts,
                "invariants": self.counts(), "violations": [v.to_dict() for v in self.violations],
                "notes": self.notes}
