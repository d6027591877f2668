"""Per-key hazards of a recorded run (``ccs.replay`` events): who writes each key, who saw
different versions at once, which writes were lost, and what to change.

A *caller* is one graph node task (the view scope); callers whose first-to-last operation on a key
overlap in time ran in parallel branches. A write is *lost* when the next version of its key was
written by a caller that derived it from an older version (read before the lost write landed) or
wrote blind (never read it) from a parallel branch: the lost write's effect is gone and nothing
said so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
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
    parallel = _parallel(events)
    return Diagnosis([_one(aid, evs, commits.get(aid, {}), parallel)
                      for aid, evs in sorted(by_key.items())], len(events), runs)


def _parallel(events: list[Event]) -> Callable[[str, str], bool]:
    """Whether two callers ran in parallel: tasks of one graph superstep (when the log says, as
    RecordingStore's does), else callers whose first-to-last operations overlap in time."""
    span: dict[str, tuple[float, float]] = {}
    steps: dict[str, str] = {}
    for e in events:
        lo, hi = span.get(_caller(e), (e.t, e.t))
        span[_caller(e)] = (min(lo, e.t), max(hi, e.t))
        if e.step is not None and e.scope is not None:
            steps[_caller(e)] = e.step

    def parallel(a: str, b: str) -> bool:
        if a == b:
            return False
        if a in steps and b in steps:
            return steps[a] == steps[b]
        (a0, a1), (b0, b1) = span[a], span[b]
        return a0 <= b1 and b0 <= a1
    return parallel


def _one(aid: str, evs: list[Event], commits: dict[int, list[Event]],
         parallel: Callable[[str, str], bool]) -> KeyReport:
    named = next((e for e in evs if e.key is not None), evs[0])
    writes = [e for e in evs if is_commit(e)]
    reads = [e for e in evs if e.op == "get" or e.outcome == "noop"]

    writer_callers = sorted({_caller(e) for e in writes})
    in_parallel = any(parallel(a, b) for a in writer_callers for b in writer_callers)
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
    for group in _groups(list(first_read), parallel):
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
            blind_parallel = w.seen is None and parallel(_caller(victim), _caller(w))
            if derived_old or blind_parallel:
                report.lost_updates.append({
                    "version": victim.version, "lost_writer": _who(victim), "lost_line": victim.line,
                    "overwritten_by": _who(w), "overwrite_line": w.line, "overwrite_version": w.version,
                    "derived_from": w.seen})
    _recommend(report)
    return report


def _groups(callers: list[str], parallel: Callable[[str, str], bool]) -> list[list[str]]:
    """Callers in groups that ran in parallel (connected by the parallel relation), in order."""
    groups: list[list[str]] = []
    for c in callers:
        joined = [g for g in groups if any(parallel(c, o) for o in g)]
        merged = [x for g in joined for x in g] + [c]
        groups = [g for g in groups if g not in joined] + [merged]
    return groups


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
        else:
            r.recommendation += "; blind puts from parallel branches: read the key first, or use store.update"
    elif r.needs_ccsstore:
        r.recommendation = ("parallel branches read or write this key: no loss this run, but it is a "
                            "race; use CCSStore" + (" and store.update for the read-modify-write"
                                                    if r.needs_update else ""))
    elif several:
        r.recommendation = ("several writers, one at a time: safe as run; CCSStore guards it if "
                            "branches ever overlap")
    else:
        r.recommendation = "no change needed"
