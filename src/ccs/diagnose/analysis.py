"""Per-key hazards of a recorded run (``ccs.replay`` events): who writes each key, who saw
different versions at once, which writes were lost, and what to change.

A *caller* is one graph node task (the view scope); callers whose first-to-last operation on a key
overlap in time ran in parallel branches. A write is *lost* when the next version of its key was
written by a caller that derived it from an older version (read before the lost write landed) or
wrote blind (never read it) from a parallel branch: the lost write's effect is gone and nothing
said so.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ccs.replay.invariants import commits_by_version, is_commit
from ccs.replay.source import Event

SINGLE, SHARED, PARALLEL, READ_ONLY = "single writer", "shared", "parallel branches", "read only"


@dataclass
class KeyReport:
    artifact: str
    key: str
    pattern: str
    writers: list[str]
    readers: list[str]
    writes: int
    reads: int
    divergent_reads: list[dict[str, Any]] = field(default_factory=list)
    lost_updates: list[dict[str, Any]] = field(default_factory=list)
    read_modify_write: bool = False
    needs_ccsstore: bool = False
    needs_update: bool = False
    recommendation: str = ""

    @property
    def hazard(self) -> bool:
        return bool(self.lost_updates or self.divergent_reads)

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "key": self.key, "pattern": self.pattern,
                "writers": self.writers, "readers": self.readers, "writes": self.writes,
                "reads": self.reads, "hazard": self.hazard, "divergent_reads": self.divergent_reads,
                "lost_updates": self.lost_updates, "read_modify_write": self.read_modify_write,
                "needs_ccsstore": self.needs_ccsstore, "needs_update": self.needs_update,
                "recommendation": self.recommendation}


@dataclass
class Diagnosis:
    keys: list[KeyReport]
    operations: int
    runs: int = 1

    @property
    def hazards(self) -> list[KeyReport]:
        return [k for k in self.keys if k.hazard]

    @property
    def ok(self) -> bool:
        return not self.hazards

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "operations": self.operations, "runs": self.runs,
                "hazards": len(self.hazards),
                "needs_ccsstore": [k.key for k in self.keys if k.needs_ccsstore],
                "needs_update": [k.key for k in self.keys if k.needs_update],
                "keys": [k.to_dict() for k in self.keys]}


def _key_name(e: Event) -> str:
    if e.key is None:
        return e.artifact or "?"
    return "/".join((*(e.namespace or ()), e.key))


def _caller(e: Event) -> str:
    return e.scope or e.agent


def _who(e: Event) -> str:
    return e.agent


def diagnose(events: list[Event], runs: int = 1) -> Diagnosis:
    by_key: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        if e.artifact is not None:
            by_key[e.artifact].append(e)
        for aid, version in e.items:  # a search read each item it returned
            by_key[aid].append(Event(e.line, e.t, e.agent, e.scope, "get", aid, version, version, "miss",
                                     step=e.step))
    commits = commits_by_version(events)
    concurrency = Concurrency(events)
    return Diagnosis([_one(aid, evs, commits.get(aid, {}), concurrency)
                      for aid, evs in sorted(by_key.items())], len(events), runs)


class Concurrency:
    """Which callers ran in parallel: tasks of one graph superstep (when the log says, as
    RecordingStore's does), else callers whose first-to-last operations overlap in time."""

    def __init__(self, events: list[Event]) -> None:
        self.span: dict[str, tuple[float, float]] = {}
        self.steps: dict[str, str] = {}
        for e in events:
            c = _caller(e)
            lo, hi = self.span.get(c, (e.t, e.t))
            self.span[c] = (min(lo, e.t), max(hi, e.t))
            if e.step is not None and e.scope is not None:
                self.steps[c] = e.step

    def parallel(self, a: str, b: str) -> bool:
        if a == b:
            return False
        if a in self.steps and b in self.steps:
            return self.steps[a] == self.steps[b]
        if a in self.steps or b in self.steps:
            return False
        (a0, a1), (b0, b1) = self.span[a], self.span[b]
        return a0 <= b1 and b0 <= a1

    def groups(self, callers: Iterable[str]) -> list[list[str]]:
        """The callers in groups that ran in parallel: one per superstep, and for callers without
        one, chains of overlapping time spans."""
        by_step: dict[str, list[str]] = defaultdict(list)
        rest = []
        for c in callers:
            if c in self.steps:
                by_step[self.steps[c]].append(c)
            else:
                rest.append(c)
        groups = list(by_step.values())
        current: list[str] = []
        reach = -math.inf
        for c in sorted(rest, key=lambda c: self.span[c]):
            lo, hi = self.span[c]
            if current and lo <= reach:
                current.append(c)
                reach = max(reach, hi)
            else:
                if current:
                    groups.append(current)
                current, reach = [c], hi
        if current:
            groups.append(current)
        return groups


def _one(aid: str, evs: list[Event], commits: dict[int, list[Event]],
         concurrency: Concurrency) -> KeyReport:
    named = next((e for e in evs if e.key is not None), evs[0])
    writes = [e for e in evs if is_commit(e)]
    reads = [e for e in evs if e.op == "get" or e.outcome == "noop"]

    writer_callers = sorted({_caller(e) for e in writes})
    in_parallel = any(len(g) > 1 for g in concurrency.groups(writer_callers))
    writer_agents = sorted({_who(e) for e in writes})
    if not writes:
        pattern = READ_ONLY
    elif in_parallel:
        pattern = PARALLEL
    elif len(writer_callers) > 1 and len(writer_agents) > 1:
        pattern = SHARED
    else:
        pattern = SINGLE
    report = KeyReport(aid, _key_name(named), pattern, writer_agents, sorted({_who(e) for e in reads}),
                       len(writes), len(reads))
    report.read_modify_write = any(w.seen is not None for w in writes)

    # divergent reads: parallel callers that saw different versions of the key
    first_read: dict[str, Event] = {}
    for e in reads:
        first_read.setdefault(_caller(e), e)
    for group in concurrency.groups(first_read):
        seen_versions: dict[int, list[Event]] = defaultdict(list)
        for c in group:
            seen_versions[first_read[c].version].append(first_read[c])
        if len(seen_versions) > 1:
            for version, es in sorted(seen_versions.items()):
                report.divergent_reads.append({"version": version, "agents": sorted({_who(e) for e in es}),
                                               "lines": [e.line for e in es]})

    # lost updates: a version overwritten by a writer that never read it
    for w in writes:
        prev = commits.get(w.version - 1, [])
        for victim in prev:
            if victim.version == 0 or _caller(victim) == _caller(w):
                continue
            derived_old = w.seen is not None and w.seen < victim.version
            blind_parallel = w.seen is None and concurrency.parallel(_caller(victim), _caller(w))
            if derived_old or blind_parallel:
                report.lost_updates.append({
                    "version": victim.version, "lost_writer": _who(victim), "lost_line": victim.line,
                    "overwritten_by": _who(w), "overwrite_line": w.line, "overwrite_version": w.version,
                    "derived_from": w.seen})
    _recommend(report)
    return report


def _recommend(r: KeyReport) -> None:
    several = r.pattern in (SHARED, PARALLEL)
    r.needs_ccsstore = bool(r.lost_updates or r.divergent_reads) or r.pattern == PARALLEL
    r.needs_update = r.read_modify_write and (r.pattern == PARALLEL or bool(r.lost_updates))
    if r.lost_updates:
        r.recommendation = (f"{len(r.lost_updates)} update(s) lost: use CCSStore (a put derived from a "
                            "stale get raises StaleView instead of landing)")
        if r.needs_update:
            r.recommendation += (" and write this key with store.update(namespace, key, fn), which "
                                 "re-reads and retries, so every branch's update lands")
        blind = sum(u["derived_from"] is None for u in r.lost_updates)
        if blind:
            r.recommendation += (f"; {blind} lost to blind puts from parallel branches, which land "
                                 "last-write-wins even on CCSStore: get the key before putting it, or "
                                 "use store.update")
    elif r.needs_ccsstore:
        r.recommendation = ("parallel branches read or write this key: no loss this run, but it is a "
                            "race; use CCSStore" + (" and store.update for the read-modify-write"
                                                    if r.needs_update else ""))
    elif several:
        r.recommendation = ("several writers, one at a time: safe as run; CCSStore guards it if "
                            "branches ever overlap")
    else:
        r.recommendation = "no change needed"
