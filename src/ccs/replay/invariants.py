"""The promises, checked on a replayed history of store operations (``source.Event``).

The names follow the model-checked invariants (``formal/``):

* ``single_writer``: each version of an artifact was produced by one write; two successful writes
  claiming the same version means two writers held it at once;
* ``monotonic_versions``: a write lands above the version it was derived from, and what one caller
  (agent + view scope) observes of an artifact never goes backwards;
* ``no_stale_write``: a write derived from version ``s`` lands as ``s + 1``; landing higher means it
  was applied over versions its writer never read (a stale write applied);
* ``no_lost_write``: no successful write is overwritten by a write derived from an older version
  (the victim side of a stale write: its effect is gone and nobody was told);
* ``linearizable``: the whole history of each artifact is a legal run of a versioned register
  within the time bounds the log allows (``ccs.history.checker``, Wing & Gong with Lowe's memo).

A blind write (``seen`` null: the caller never read the item) is last-write-wins by contract and is
never reported as stale or lost here; ``ccs diagnose`` reports it as a hazard of the graph instead.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ccs.history.checker import VersionedRegister, check
from ccs.history.recorder import FAIL, OK, PENDING, Op
from ccs.replay.source import WRITES, Event

INVARIANTS = ("single_writer", "monotonic_versions", "no_stale_write", "no_lost_write", "linearizable")


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


def is_commit(e: Event) -> bool:
    """A write that produced a new version (not a delete of an item already absent)."""
    return e.is_write and e.version is not None and not (e.seen is not None and e.version == e.seen)


def commits_by_version(events: Iterable[Event]) -> dict[str, dict[int, list[Event]]]:
    out: dict[str, dict[int, list[Event]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        if is_commit(e):
            out[e.artifact][e.version].append(e)
    return out


def _maybe_noop(e: Event) -> bool:
    """A blind delete logs the current version when the item was already absent: no new version."""
    return e.op in ("delete", "update") and e.seen is None


def single_writer(events: list[Event]) -> list[Violation]:
    out = []
    for aid, versions in commits_by_version(events).items():
        for version, claims in sorted(versions.items()):
            real = [c for c in claims if not _maybe_noop(c)]
            # blind deletes of an item already absent log its version without writing: fine beside
            # the delete that left it absent, not beside a put (the item was there to delete)
            excused = not real or (len(real) == 1 and real[0].op == "delete")
            if len(real) > 1 or (len(claims) > len(real) and not excused):
                agents = ", ".join(sorted({c.agent for c in claims}))
                out.append(Violation("single_writer", aid, f"{len(claims)} writes ({agents}) each "
                                     f"produced version {version}: two writers at once", claims))
    return out


def monotonic_versions(events: list[Event]) -> list[Violation]:
    out = []
    last: dict[tuple[Any, str], Event] = {}
    for e in events:
        seq = e.sequence
        if is_commit(e) and e.seen is not None and e.version < e.seen:
            out.append(Violation("monotonic_versions", e.artifact,
                                 f"write landed as version {e.version}, below the version {e.seen} "
                                 "it was derived from", [e]))
        observed = [(e.artifact, e.version)] if e.artifact and e.version is not None else []
        observed += e.items
        for aid, version in observed if seq is not None else ():
            prev = last.get((e.agent, seq, aid))
            if prev is not None and version < _observed(prev, aid):
                out.append(Violation(
                    "monotonic_versions", aid,
                    f"{e.agent} ({e.scope or e.thread or 'no scope'}) saw version {version} after version "
                    f"{_observed(prev, aid)}: its view went backwards", [prev, e]))
            last[e.agent, seq, aid] = e
    return out


def _observed(e: Event, aid: str) -> int:
    if e.artifact == aid and e.version is not None:
        return e.version
    return dict(e.items)[aid]


def _stale(events: list[Event]) -> list[tuple[Event, list[Event]]]:
    """(write derived from an old version, the commits it overwrote unread)."""
    by_version = commits_by_version(events)
    out = []
    for e in events:
        if is_commit(e) and e.seen is not None and e.version > e.seen + 1:
            skipped = [c for v in range(e.seen + 1, e.version) for c in by_version[e.artifact].get(v, [])]
            out.append((e, skipped))
    return out


def no_stale_write(events: list[Event]) -> list[Violation]:
    out = []
    reads = _reads_of(events)
    for e, skipped in _stale(events):
        gone = f"version {e.seen + 1}" if e.version == e.seen + 2 else \
            f"versions {e.seen + 1}..{e.version - 1}"
        read = reads.get(id(e), [])
        out.append(Violation("no_stale_write", e.artifact,
                             f"{e.agent} wrote version {e.version} derived from version {e.seen}: applied "
                             f"over {gone}, which it never read", [*read, e, *skipped]))
    return out


def _reads_of(events: list[Event]) -> dict[int, list[Event]]:
    """For each write (by id), the caller's last observation of the version it was derived from."""
    last: dict[tuple[Any, str, int], Event] = {}
    out: dict[int, list[Event]] = {}
    for e in events:
        if e.artifact is None:
            continue
        if e.op in WRITES and e.seen is not None:
            hit = last.get((e.caller, e.artifact, e.seen))
            out[id(e)] = [] if hit is None else [hit]
        if e.version is not None:
            last[e.caller, e.artifact, e.version] = e
    return out


def no_lost_write(events: list[Event]) -> list[Violation]:
    """The version just below a stale write is the one it destroyed: its writer's effect is gone.
    (Earlier skipped versions were already overwritten by that one, so each loss is named once.)"""
    out = []
    for e, skipped in _stale(events):
        for victim in (c for c in skipped if c.version == e.version - 1):
            out.append(Violation("no_lost_write", e.artifact,
                                 f"{victim.agent}'s write of version {victim.version} was lost: "
                                 f"{e.agent} overwrote it with a value derived from version {e.seen}",
                                 [victim, e]))
    return out


class _Register(VersionedRegister):
    """The versioned register from a given starting version (recording may start mid-life), with
    one more operation: a blind delete that may have been a no-op (the item was already absent)."""

    def __init__(self, start: int) -> None:
        self.start = start

    def initial(self) -> Hashable:
        return (self.start, None, 0)

    def step(self, state: Any, op: Op) -> list[Hashable]:
        if op.op == "write_or_read":
            version, _value, epoch = state
            if op.outputs["version"] == version:
                return [state]
            return [(version + 1, None, epoch)] if op.outputs["version"] == version + 1 else []
        return super().step(state, op)


def to_history(events: list[Event]) -> dict[str, list[Op]]:
    """Per artifact, the events as ``ccs.history`` operations with the widest time bounds the log
    supports. A line is written after its operation returned, so ``t`` bounds the response; the
    call began after the previous line of the same thread (or graph task, see ``Event.sequence``;
    with neither, it may have begun any time before). A cache hit (and an
    absent result, which may come from the cache) may serve the version the agent cached when it
    last fetched or wrote the item, so its call is placed there."""
    prev: dict[Any, float] = {}
    fill: dict[tuple[str, str], float] = {}
    out: dict[str, list[Op]] = defaultdict(list)
    for e in events:
        seq = e.sequence
        start = -math.inf if seq is None else min(prev.get(seq, -math.inf), e.t)
        if seq is not None:
            prev[seq] = max(prev.get(seq, -math.inf), e.t)
        if e.op == "search":
            for n, (aid, version) in enumerate(e.items):
                out[aid].append(Op(f"{e.line}.{n}", e.agent, "read", aid, {}, start, e.t, OK,
                                   {"version": version, "value": None}))
            continue
        if e.artifact is None:
            continue
        oid = str(e.line)
        if e.op == "get" or e.outcome == "noop":
            if e.outcome in ("hit", "absent"):
                start = min(fill.get((e.agent, e.artifact), -math.inf), e.t)
            else:
                fill[e.agent, e.artifact] = start
            out[e.artifact].append(Op(oid, e.agent, "read", e.artifact, {}, start, e.t, OK,
                                      {"version": e.version, "value": None}))
            continue
        if e.outcome == "ok":
            fill[e.agent, e.artifact] = start
            kind = "write_or_read" if _maybe_noop(e) else "write"
            out[e.artifact].append(Op(oid, e.agent, kind, e.artifact, {"base": e.seen, "value": None},
                                      start, e.t, OK, {"version": e.version}))
        else:
            status = PENDING if e.error == "outcome_unknown" else FAIL
            out[e.artifact].append(Op(oid, e.agent, "write", e.artifact, {"base": e.seen, "value": None},
                                      start, None if status == PENDING else e.t, status,
                                      error=e.error or "error"))
    return out


def _start_version(ops: list[Op]) -> int:
    candidates = []
    for o in ops:
        if o.op == "read":
            candidates.append(o.outputs["version"])
        elif o.inputs.get("base") is not None:
            candidates.append(o.inputs["base"])
        if o.status == OK and o.op != "read":
            candidates.append(o.outputs["version"] - (o.op == "write"))
    return min(candidates, default=0)


def linearizable(events: list[Event], budget: float = 10.0,
                 progress: Callable[[int, int], None] | None = None,
                 notes: list[str] | None = None) -> list[Violation]:
    history = to_history(events)
    by_id = {str(e.line): e for e in events}
    deadline = time.monotonic() + budget
    out = []
    for n, (aid, ops) in enumerate(sorted(history.items()), 1):
        if progress is not None:
            progress(n, len(history))
        left = deadline - time.monotonic()
        if left <= 0:
            if notes is not None:
                notes.append(f"linearizability: time budget ran out before {len(history) - n + 1} "
                             "artifact(s) were checked (--budget)")
            break
        share = left / (len(history) - n + 1)  # an undecidable item cannot starve the others
        result = check(ops, _Register(_start_version(ops)), budget=share)
        if result.result == "unknown" and notes is not None:
            notes.append(f"linearizability of {aid}: undecided within the time budget (--budget)")
        if result.result != "illegal":
            continue
        placed = set(result.witness.get(aid, []))
        stuck = [o for o in sorted(ops, key=lambda o: (o.complete is None, o.complete or 0))
                 if o.id not in placed]
        culprit = stuck[0] if stuck else None
        involved = [by_id[o.id.split(".")[0]] for o in ops]
        head = [by_id[culprit.id.split(".")[0]]] if culprit is not None else []
        msg = (f"no order of its {len(ops)} operations is a legal run of a versioned register: "
               f"{len(placed)} fit, then " + (head[0].label if head else "?") + " cannot be placed")
        rest = sorted((e for e in involved if e not in head), key=lambda e: e.line)
        out.append(Violation("linearizable", aid, msg, head + rest[:20]))
    return out


CHECKS: dict[str, Callable[[list[Event]], list[Violation]]] = {
    "single_writer": single_writer,
    "monotonic_versions": monotonic_versions,
    "no_stale_write": no_stale_write,
    "no_lost_write": no_lost_write,
}


def run_checks(events: list[Event], names: Iterable[str] = INVARIANTS, budget: float = 10.0,
               progress: Callable[[int, int], None] | None = None) -> Report:
    names = [n for n in INVARIANTS if n in set(names)]
    violations: list[Violation] = []
    notes: list[str] = []
    for name in names:
        if name == "linearizable":
            violations += linearizable(events, budget, progress, notes)
        else:
            violations += CHECKS[name](events)
    artifacts = {e.artifact for e in events if e.artifact} | {a for e in events for a, _ in e.items}
    return Report(len(events), len(artifacts), names, violations, notes)
