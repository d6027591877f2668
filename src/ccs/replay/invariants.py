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

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from ccs.replay.linearize import linearizable
from ccs.replay.report import Report, Violation
from ccs.replay.source import WRITES, Event

INVARIANTS = ("single_writer", "monotonic_versions", "no_stale_write", "no_lost_write", "linearizable")


def is_commit(e: Event) -> bool:
    """A write that produced a new version (not a delete of an item already absent)."""
    return e.is_write and e.version is not None and not (e.seen is not None and e.version == e.seen)


def commits_by_version(events: Iterable[Event]) -> dict[str, dict[int, list[Event]]]:
    out: dict[str, dict[int, list[Event]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        if is_commit(e):
            out[e.artifact][e.version].append(e)
    return out


def single_writer(events: list[Event]) -> list[Violation]:
    out = []
    for aid, versions in commits_by_version(events).items():
        for version, claims in sorted(versions.items()):
            real = [c for c in claims if not c.may_be_noop]
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
