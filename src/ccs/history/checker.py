"""Linearizability checking: Wing & Gong's search with Lowe's memoisation, one artifact at a time.

A history is linearizable if every operation can be given a single instant between its invocation
and its response such that, taken in that order, the operations are a legal run of the sequential
specification. Linearizability is compositional (P-compositional for a map of independent
artifacts), so each artifact's sub-history is checked on its own, which keeps the search small.

The search walks the history in real-time order, tentatively linearizing any call whose predecessors
are all linearized and whose effect the specification allows, and backtracks when a response is
reached whose call could not be placed. Lowe's memoisation skips any (set of linearized operations,
state) pair already explored. A pending operation (no response) gets a response at infinity and may
be linearized either with its effect or as a no-op: it may or may not have happened.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ccs.history.recorder import OK, PENDING, Op

WRITES = frozenset({"write", "commit"})
VERSION_CODES = frozenset({"stale_view", "version_conflict"})
EPOCH_CODES = frozenset({"stale_epoch", "grant_reclaimed"})


def freeze(value: Any) -> Hashable:
    """A hashable stand-in for a JSON value, equal exactly when the values are."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return ("json", json.dumps(value, sort_keys=True))


class Spec(Protocol):
    def initial(self) -> Hashable: ...

    def step(self, state: Any, op: Op) -> list[Hashable]:
        """States the operation may leave behind from ``state``; empty if it cannot happen there."""
        ...


class VersionedRegister:
    """One artifact as the agent API exposes it. State: ``(version, value, epoch)``.

    * ``read`` -> outputs ``value``, ``version`` (and optionally ``epoch``) of the current state;
    * ``write``/``commit`` with inputs ``value``, ``base`` (None: blind) and optionally ``epoch``:
      lands iff ``base`` is the current version and ``epoch`` the current epoch, giving version + 1;
    * ``commit_cas`` with ``expected``: lands iff ``expected`` is the current version (and epoch);
    * ``reclaim`` (crash recovery fenced a grant): outputs the new ``epoch``, current + 1.

    A refusal changes nothing, and its code must be true of the state: ``stale_view`` and
    ``version_conflict`` need a moved version, ``stale_epoch``/``grant_reclaimed`` a moved epoch.
    Other refusals (``not_owner``, exhausted retries) may happen anywhere.
    """

    def initial(self) -> Hashable:
        return (0, None, 0)

    def step(self, state: Any, op: Op) -> list[Hashable]:
        version, value, epoch = state
        inp, out = op.inputs, op.outputs
        if op.op == "read":
            if op.status != OK:
                return [state]
            if out.get("version") != version or freeze(out.get("value")) != value:
                return []
            return [state] if out.get("epoch") in (None, epoch) else []
        if op.op == "reclaim":
            bumped = (version, value, epoch + 1)
            if op.status == PENDING:
                return [bumped, state]
            return [bumped] if op.status == OK and out.get("epoch") == epoch + 1 else []
        if op.op in WRITES or op.op == "commit_cas":
            base = inp.get("expected") if op.op == "commit_cas" else inp.get("base")
            fits_version = base is None or base == version
            fits_epoch = inp.get("epoch") in (None, epoch)
            applied = (version + 1, freeze(inp.get("value")), epoch)
            if op.status == OK:
                fits = fits_version and fits_epoch and out.get("version") in (None, version + 1)
                return [applied] if fits else []
            if op.status == PENDING:
                return [applied, state] if fits_version and fits_epoch else [state]
            if op.error in VERSION_CODES:
                return [] if fits_version else [state]
            if op.error in EPOCH_CODES:
                return [] if fits_epoch else [state]
            return [state]
        raise ValueError(f"operation {op.op!r} is not part of the versioned-register spec")


@dataclass
class CheckResult:
    """``result`` is ``ok``, ``illegal`` (some artifact's history is not linearizable) or
    ``unknown`` (the time budget ran out first). ``witness`` holds, for each illegal artifact, the
    longest prefix of op ids the search could linearize: the operation after it is the culprit."""

    result: str
    artifacts: dict[str, str] = field(default_factory=dict)
    witness: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result == "ok"


class _Entry:
    __slots__ = ("call", "match", "next", "op", "prev")

    def __init__(self, op: Op | None, call: bool) -> None:
        self.op, self.call = op, call
        self.match: _Entry | None = None
        self.prev: _Entry | None = None
        self.next: _Entry | None = None


def _unlink(e: _Entry) -> None:
    e.prev.next = e.next
    if e.next is not None:
        e.next.prev = e.prev


def _relink(e: _Entry) -> None:
    e.prev.next = e
    if e.next is not None:
        e.next.prev = e


def _search(ops: list[Op], spec: Spec, deadline: float) -> tuple[str, list[str]]:
    points = []
    for n, op in enumerate(ops):
        end = op.complete if op.status != PENDING and op.complete is not None else math.inf
        points.append((op.invoke, 0, n))
        points.append((end, 1, n))  # at equal times the call sorts first: overlap, the lenient reading
    points.sort()
    head = _Entry(None, False)
    calls: dict[int, _Entry] = {}
    last = head
    for _, is_return, n in points:
        e = _Entry(ops[n], not is_return)
        if is_return:
            calls[n].match = e
        else:
            calls[n] = e
        e.prev, last.next, last = last, e, e
    bit = {id(e): 1 << n for n, e in calls.items()}

    state, linearized = spec.initial(), 0
    seen: set[tuple[int, Hashable]] = set()
    stack: list[tuple[_Entry, Hashable, int]] = []
    best: list[str] = []
    entry, start, steps = head.next, 0, 0
    while head.next is not None:
        steps += 1
        if steps % 512 == 0 and time.monotonic() > deadline:
            return "unknown", []
        if entry.call:
            candidates = spec.step(state, entry.op)
            for i in range(start, len(candidates)):
                key = (linearized | bit[id(entry)], candidates[i])
                if key in seen:
                    continue
                seen.add(key)
                stack.append((entry, state, i))
                state, linearized = candidates[i], key[0]
                _unlink(entry)
                _unlink(entry.match)
                entry, start = head.next, 0
                break
            else:
                entry, start = entry.next, 0
        else:
            if not stack:
                return "illegal", best
            if len(stack) > len(best):  # a longest prefix is always followed by a backtrack
                best = [e.op.id for e, _, _ in stack]
            popped, state, i = stack.pop()
            linearized &= ~bit[id(popped)]
            _relink(popped.match)
            _relink(popped)
            entry, start = popped, i + 1
    return "ok", []


def check(ops: Iterable[Op], spec: Spec | None = None, budget: float = 10.0) -> CheckResult:
    """Check a history per artifact within ``budget`` seconds in all."""
    spec = spec or VersionedRegister()
    deadline = time.monotonic() + budget
    by_artifact: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_artifact[op.artifact].append(op)
    result = CheckResult("ok")
    for artifact, sub in sorted(by_artifact.items()):
        verdict, witness = _search(sub, spec, deadline)
        result.artifacts[artifact] = verdict
        if verdict == "illegal":
            result.result = "illegal"
            result.witness[artifact] = witness
        elif verdict == "unknown" and result.result == "ok":
            result.result = "unknown"
    return result
