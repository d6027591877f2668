"""Status and bulk repair of a volume's files."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ccs.adapters.coherent_volume import materialize as mat
from ccs.adapters.coherent_volume.config import CONFIG_ID

if TYPE_CHECKING:
    from ccs.adapters.coherent_volume.volume import CoherentVolume


def status(vol: CoherentVolume, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    if path is not None:
        ids = [vol._id(path)]
    else:
        ids = sorted(r.artifact_id for r in vol.coordinator.artifacts()
                     if r.artifact_id != CONFIG_ID and r.version > 0)
    files = []
    for aid in ids:
        with vol._lock(aid) as lk:
            rec = vol.coordinator.artifact(aid)
            dd = mat.digest(mat.read_disk(vol._file(aid)))
            rd = mat.ABSENT if rec is None else rec.content.digest or mat.ABSENT
            ours = dd == rd or vol._disk_is_ours(lk, aid, dd)
            state = "clean" if dd == rd else "pending" if ours else "foreign"
        files.append({"path": aid, "version": 0 if rec is None else rec.version,
                      "exists": rec is not None and rec.exists, "disk": state,
                      "updated_by": None if rec is None else rec.updated_by})
    return {"root": vol.root, "engine": vol.engine, "agent": vol.agent_name,
            "managed": list(vol.managed), "files": files}


def repair(vol: CoherentVolume) -> dict[str, int]:
    repaired = 0
    for entry in status(vol)["files"]:
        if entry["disk"] != "clean":
            vol._fresh(entry["path"], adopt=True)
            repaired += 1
    return {"repaired": repaired, "orphans_removed": mat.sweep_temps(vol.root)}
