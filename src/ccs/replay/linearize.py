"""The ``linearizable`` invariant: each artifact's recorded operations, within the time bounds the
log allows, must be a legal run of a versioned register (``ccs.history.checker``).

The bounds must never be narrower than the truth, or a correct history raises a false alarm:

* A line is written after its operation returned, so ``t`` bounds the response.
* The call began after the previous line of the same thread (or graph task, see
  ``Event.sequence``); with neither, it may have begun any time before.
* A cache hit (and an absent result, which may come from the cache) serves the version its agent
  cached when some operation fetched or wrote it, and with several agents that version may
  already be superseded by the time of the call. Its read may therefore be placed as early as the
  start of the earliest logged operation of the same agent that could have cached that version.
  It is the earliest of them, not the latest logged before the hit: threads sharing one agent
  share its cache, so the operation whose entry the hit served may be logged after the hit, or
  after another thread's later fill.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Hashable
from typing import Any

from ccs.history.checker import VersionedRegister, check
from ccs.history.recorder import FAIL, OK, PENDING, Op
from ccs.replay.report import Violation
from ccs.replay.source import Event


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


def _call_starts(events: list[Event]) -> list[float]:
    """For each event, the latest time its call is known to have begun after."""
    prev: dict[Any, float] = {}
    out = []
    for e in events:
        seq = e.sequence
        out.append(-math.inf if seq is None else min(prev.get(seq, -math.inf), e.t))
        if seq is not None:
            prev[seq] = max(prev.get(seq, -math.inf), e.t)
    return out


def _is_cached_read(e: Event) -> bool:
    return (e.op == "get" or e.outcome == "noop") and e.outcome in ("hit", "absent")


def _fills(events: list[Event], starts: list[float]) -> dict[tuple, list[tuple[float, int]]]:
    """Per (agent, artifact, version): the two earliest (start, line) of operations that may have
    left that version in the agent's cache (two, so a line can look past itself)."""
    out: dict[tuple, list[tuple[float, int]]] = defaultdict(list)

    def note(key: tuple, start: float, line: int) -> None:
        earliest = out[key]
        earliest.append((start, line))
        earliest.sort()
        del earliest[2:]

    for e, start in zip(events, starts, strict=True):
        if e.op == "search":
            for aid, version in e.items:
                note((e.agent, aid, version), start, e.line)
        elif e.artifact is not None and e.version is not None and e.outcome in ("miss", "absent", "ok",
                                                                              "noop"):
            note((e.agent, e.artifact, e.version), start, e.line)
    return out


def _cached_from(fills: dict[tuple, list[tuple[float, int]]], e: Event) -> float:
    """The earliest start of another operation that may have cached what ``e`` served; -inf if
    none is logged (the version was cached before recording began, or by an unlogged path)."""
    for start, line in fills.get((e.agent, e.artifact, e.version), ()):
        if line != e.line:
            return start
    return -math.inf


def to_history(events: list[Event]) -> dict[str, list[Op]]:
    """Per artifact, the events as ``ccs.history`` operations with the widest time bounds the log
    supports (see the module docstring)."""
    starts = _call_starts(events)
    fills = _fills(events, starts)
    out: dict[str, list[Op]] = defaultdict(list)
    for e, start in zip(events, starts, strict=True):
        if e.op == "search":
            for n, (aid, version) in enumerate(e.items):
                out[aid].append(Op(f"{e.line}.{n}", e.agent, "read", aid, {}, start, e.t, OK,
                                   {"version": version, "value": None}))
            continue
        if e.artifact is None:
            continue
        oid = str(e.line)
        if e.op == "get" or e.outcome == "noop":
            if _is_cached_read(e):
                start = min(start, _cached_from(fills, e))
            out[e.artifact].append(Op(oid, e.agent, "read", e.artifact, {}, start, e.t, OK,
                                      {"version": e.version, "value": None}))
            continue
        if e.outcome == "ok":
            kind = "write_or_read" if e.may_be_noop else "write"
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
