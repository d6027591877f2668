"""Status and bulk repair of a volume's files."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ccs.adapters.coherent_volume import materialize as mat
from ccs.adapters.coherent_volume.paths import STATE_DIR
from ccs.protocol.errors import CoherenceError

if TYPE_CHECKING:
    from ccs.adapters.coherent_volume.volume import CoherentVolume


def _entry(vol: CoherentVolume, aid: str, errors: list[CoherenceError] | None) -> dict[str, Any]:
    """One file's status. A file that cannot be read safely is ``disk: "error"`` with its typed
    error (``error``, also appended to ``errors``), so that one bad file does not hide the
    others; with ``errors=None`` the error is raised."""
    rec = vol.coordinator.artifact(aid)
    entry: dict[str, Any] = {"path": aid, "version": 0 if rec is None else rec.version,
                             "exists": rec is not None and rec.exists,
                             "updated_by": None if rec is None else rec.updated_by}
    with vol._lock(aid) as lk:
        try:
            dd = mat.digest(vol.fs.read(aid))
        except CoherenceError as exc:
            if errors is None:
                raise
            errors.append(exc)
            entry.update(disk="error", error=exc.to_dict())
            return entry
        rd = mat.ABSENT if rec is None else rec.content.digest or mat.ABSENT
        ours = dd == rd or vol._disk_is_ours(lk, aid, dd)
        entry["disk"] = "clean" if dd == rd else "pending" if ours else "foreign"
    return entry


def _known(vol: CoherentVolume) -> list[str]:
    return sorted(r.artifact_id for r in vol.coordinator.artifacts()
                  if not r.artifact_id.startswith(STATE_DIR + "/") and r.version > 0)


def status(vol: CoherentVolume, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    if path is not None:
        files = [_entry(vol, vol._id(path), None)]
    else:
        files = [_entry(vol, aid, []) for aid in _known(vol)]
    return {"root": vol.root, "engine": vol.engine, "agent": vol.agent_name,
            "managed": list(vol.managed), "files": files}


def repair(vol: CoherentVolume) -> dict[str, int]:
    repaired = 0
    failed: list[tuple[str, CoherenceError]] = []
    for aid in _known(vol):
        errors: list[CoherenceError] = []
        entry = _entry(vol, aid, errors)
        if entry["disk"] not in ("clean", "error"):
            try:
                vol._fresh(aid, adopt=True)
                repaired += 1
            except CoherenceError as exc:
                errors.append(exc)
        failed.extend((aid, e) for e in errors)
    orphans = vol.fs.sweep_temps()
    if failed:
        err = failed[0][1]
        err.details.update(repaired=repaired, orphans_removed=orphans,
                           failed=[{"path": p, "code": e.code} for p, e in failed])
        raise err
    return {"repaired": repaired, "orphans_removed": orphans}
