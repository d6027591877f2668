"""Direct checks of the promises, computed from a history (clearer failure messages than the checker)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from ccs.history.checker import WRITES, freeze
from ccs.history.recorder import OK, Op

COMMITS = WRITES | {"commit_cas"}


def successful_commits(ops: Iterable[Op], artifact: str | None = None) -> list[Op]:
    return [o for o in ops if o.op in COMMITS and o.status == OK
            and (artifact is None or o.artifact == artifact)]


def lost_updates(ops: Iterable[Op], final: Mapping[str, tuple[int, Any]] | None = None) -> list[Op]:
    """Successful commits whose value never made it into the artifact's chain of versions.

    The chain is what was observed: each version's value as read by any client, plus ``final``
    (artifact -> (version, value)) if given. A commit is lost if another commit reported the same
    version, if a read of its version saw another value, or if it reported a version above the final
    one. When two commits claim one version and nothing observed it, both are reported. A commit
    derived from version ``b`` that landed as anything but ``b + 1`` is reported too: it silently
    overwrote the versions in between, which is how a lost update looks from the winner's side.
    """
    ops = list(ops)
    seen: dict[tuple[str, int], set[Hashable]] = defaultdict(set)
    for o in ops:
        if o.op == "read" and o.status == OK and "version" in o.outputs:
            seen[o.artifact, o.outputs["version"]].add(freeze(o.outputs.get("value")))
    for aid, (version, value) in (final or {}).items():
        seen[aid, version].add(freeze(value))
    claims: dict[tuple[str, int], list[Op]] = defaultdict(list)
    for o in successful_commits(ops):
        claims[o.artifact, o.outputs["version"]].append(o)
    lost = []
    for o in successful_commits(ops):
        base = o.inputs.get("expected" if o.op == "commit_cas" else "base")
        if base is not None and o.outputs["version"] != base + 1:
            lost.append(o)
    for (aid, version), commits in claims.items():
        observed = seen.get((aid, version), set())
        if final is not None and aid in final and version > final[aid][0]:
            lost.extend(commits)
        elif observed:
            kept: set[Hashable] = set()
            for o in commits:  # one commit per observed value survives; a second of it vanished
                value = freeze(o.inputs.get("value"))
                if value not in observed or value in kept:
                    lost.append(o)
                kept.add(value)
        elif len(commits) > 1:
            lost.extend(commits)
    return sorted({id(o): o for o in lost}.values(), key=lambda o: o.invoke)


def cas_winners(ops: Iterable[Op]) -> dict[tuple[str, int], list[Op]]:
    """Every (artifact, expected version) some compare-and-set was attempted at -> its winners.

    Two winners is always a broken promise; a race among clients that all read the same version and
    none of which was preceded by another write must have exactly one.
    """
    out: dict[tuple[str, int], list[Op]] = {}
    for o in ops:
        if o.op == "commit_cas":
            out.setdefault((o.artifact, o.inputs["expected"]), [])
            if o.status == OK:
                out[o.artifact, o.inputs["expected"]].append(o)
    return out


def reclaimed_commits_landed(ops: Iterable[Op]) -> list[Op]:
    """Successful commits made under an epoch that a completed reclaim had already fenced.

    A reclaim op has outputs ``fenced_epoch`` (the epoch taken away) and ``epoch`` (the new one); a
    commit carries ``epoch`` in its inputs. A commit invoked after a reclaim of its epoch finished
    must never land; one overlapping the reclaim is for the linearizability checker to judge.
    """
    ops = list(ops)
    fenced: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for o in ops:
        if o.op == "reclaim" and o.status == OK:
            fenced[o.artifact].append((o.complete, o.outputs["fenced_epoch"]))
    landed = []
    for o in successful_commits(ops):
        epoch = o.inputs.get("epoch")
        if epoch is None:
            continue
        after_fence = any(done < o.invoke and epoch <= fenced_epoch
                          for done, fenced_epoch in fenced[o.artifact])
        if after_fence or o.outputs.get("epoch") not in (None, epoch):
            landed.append(o)
    return landed
