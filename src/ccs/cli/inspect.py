"""`ccs status` and `ccs sweep`: look into a store, and run crash recovery by hand."""

from __future__ import annotations

import json
import os
import sys

from ccs import killswitch
from ccs.backends.sqlite import sqlite_path
from ccs.coordinator import Coordinator
from ccs.protocol.errors import StoreNotFound
from ccs.protocol.ids import agent_name
from ccs.protocol.records import ArtifactRecord


def open_existing(engine: str) -> Coordinator:
    """A coordinator on a store that must already exist: looking must not create an empty one."""
    if isinstance(engine, str) and engine.lower().startswith("sqlite:"):
        path = os.path.abspath(sqlite_path(engine)[0])
        if not os.path.isfile(path):
            raise StoreNotFound(f"no store at {path}", path=path)
    return Coordinator(engine)


def describe(rec: ArtifactRecord) -> dict:
    """One artifact, agents by readable name (the protocol tracks ``name@instance``; two
    instances of one name are shown by their full ids)."""
    agents = sorted(set(rec.sharers) | ({rec.owner.agent} if rec.owner else set()))
    names = [agent_name(a) for a in agents]
    label = {a: n if names.count(n) == 1 else a for a, n in zip(agents, names, strict=True)}

    def who(agent: str | None) -> str | None:
        return None if agent is None else label.get(agent) or agent_name(agent)

    return {
        "artifact": rec.artifact_id,
        "version": rec.version,
        "epoch": rec.epoch,
        "exists": rec.exists,
        "size": rec.content.size,
        "kind": rec.content.kind,
        "owner": None if rec.owner is None else who(rec.owner.agent),
        "views": {label[a]: rec.view_of(a).value for a in agents},
        "updated_by": who(rec.updated_by),
        "last_reclaim": None if rec.last_reclaim is None else {
            "agent": who(rec.last_reclaim.agent), "fenced_epoch": rec.last_reclaim.fenced_epoch,
            "reason": rec.last_reclaim.reason},
    }


def internal(artifact_id: str) -> bool:
    """Records the library keeps for itself, not artifacts a user wrote: a volume's configuration
    (``.ccs/volume``) and CCSStore's per-item TTL records (``~ttl/...``)."""
    return artifact_id.startswith(("~", ".ccs/"))


def status(engine: str, prefix: str, as_json: bool, out=print, *, show_internal: bool = False) -> int:
    for line in killswitch.status_lines():  # on stderr with --json: the JSON stays a list of rows
        if as_json:
            print(f"WARNING: {line}", file=sys.stderr)
        else:
            out(f"WARNING: {line}")
    coordinator = open_existing(engine)
    try:
        rows = [describe(r) for r in sorted(coordinator.artifacts(prefix), key=lambda r: r.artifact_id)
                if show_internal or not internal(r.artifact_id)]
    finally:
        coordinator.close()
    if as_json:
        out(json.dumps(rows, indent=2))
        return 0
    if not rows:
        out("no artifacts")
        return 0
    out(f"{'artifact':32} {'ver':>5} {'epoch':>5} {'owner':12} views")
    for row in rows:
        views = " ".join(f"{a}:{s}" for a, s in row["views"].items())
        out(f"{row['artifact'][:32]:32} {row['version']:>5} {row['epoch']:>5} "
            f"{(row['owner'] or '-')[:12]:12} {views}")
        if row["last_reclaim"]:
            out(f"{'':32} reclaimed from {row['last_reclaim']['agent']}: {row['last_reclaim']['reason']}")
    return 0


def sweep(engine: str, out=print, *, as_json: bool = False) -> int:
    coordinator = open_existing(engine)
    try:
        notes = coordinator.sweep()
    finally:
        coordinator.close()
    if as_json:
        out(json.dumps([{"artifact": n.artifact, "agent": agent_name(n.agent), "fenced_epoch": n.fenced_epoch,
                         "new_epoch": n.new_epoch, "reason": n.reason} for n in notes], indent=2))
        return 0
    for n in notes:
        out(f"reclaimed {n.artifact!r} from {agent_name(n.agent)} "
            f"(epoch {n.fenced_epoch} -> {n.new_epoch}): {n.reason}")
    out(f"{len(notes)} grant(s) reclaimed")
    return 0
