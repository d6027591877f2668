"""`ccs log`, `ccs show` and `ccs diff`: what happened to an artifact, and what it held.

``log`` reads the audit log the engine keeps (``Coordinator.audit``); ``show`` and ``diff`` read
retained versions (``Limits.retain_versions``). All three open an existing store only
(``open_existing``): looking never creates one.
"""

from __future__ import annotations

import base64
import difflib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from ccs.cli.inspect import open_existing
from ccs.coordinator import Coordinator
from ccs.protocol.audit import AuditEntry
from ccs.protocol.errors import CorruptState, InvalidArgument, UnknownArtifact, VersionNotRetained
from ccs.protocol.ids import check_artifact_id
from ccs.protocol.records import ArtifactRecord


def parse_ref(ref: str) -> tuple[str, int]:
    """``ARTIFACT@VERSION`` (the last ``@``: artifact ids may contain one) -> (artifact, version)."""
    artifact, at, version = ref.rpartition("@")
    if not at or not artifact or not version.isdigit():
        raise InvalidArgument(f"{ref!r} is not ARTIFACT@VERSION (e.g. plan.md@3)",
                              parameter="ref")
    return check_artifact_id(artifact), int(version)


def retained(rec: ArtifactRecord) -> list[int]:
    """Versions whose content the store still holds: the retained older ones and the current."""
    versions = [v for v, _ in rec.history]
    if rec.content.digest is not None:
        versions.append(rec.version)
    return sorted(versions)


def _range(versions: list[int]) -> str:
    if not versions:
        return "none"
    return f"v{versions[0]}" if len(versions) == 1 else f"v{versions[0]}-v{versions[-1]}"


def content_of(coordinator: Coordinator, artifact: str, version: int) -> bytes:
    """The content of one version, current or retained; typed errors name what is retained."""
    for _ in range(3):
        rec = coordinator.artifact(artifact)
        if rec is None or rec.version == 0:
            raise UnknownArtifact(f"no artifact {artifact!r} in this store", artifact=artifact)
        digest = rec.content.digest if version == rec.version else dict(rec.history).get(version)
        if digest is None:
            versions = retained(rec)
            if version == rec.version:
                why = f"version {version} of {artifact!r} is a deletion (it has no content)"
            elif 0 < version < rec.version:
                why = f"version {version} of {artifact!r} is no longer retained"
            else:
                why = f"{artifact!r} has no version {version} (it is at version {rec.version})"
            raise VersionNotRetained(
                f"{why}; retained: {_range(versions)}", artifact=artifact,
                current_version=rec.version, current_epoch=rec.epoch, version=version,
                retained=versions)
        data = coordinator.backend.get_blob(digest)
        if data is not None:
            return data
        if coordinator.artifact(artifact) == rec:  # not collected by a race: damage
            break
    raise CorruptState(f"content of {artifact}@{version} is missing from the store",
                       artifact=artifact)


def _text(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def describe(e: AuditEntry) -> str:
    """One log line: when, what, who, from which base, and why a refusal or a reclaim."""
    who = e.agent_name or "-"
    if e.outcome in ("committed", "deleted"):
        change = f"v{e.base_version} -> v{e.version}"
        note = f"commit {e.commit_id}" if e.commit_id else ""
    elif e.outcome == "refused":
        base = "absent" if e.base_version == 0 else (
            "blind" if e.base_version is None else f"v{e.base_version}")
        change = f"from {base}, at v{e.version}"
        note = f"[{e.code}] {e.reason}"
    else:
        change = f"at v{e.version}"
        note = e.reason
    return (f"{_when(e.at)}  {e.outcome:9} {e.op:11} {who[:16]:16} {change:22} "
            f"epoch {e.epoch:<3} {note}").rstrip()


def log(engine: str, artifact: str | None, as_json: bool, limit: int | None = None,
        out: Callable[[str], None] = print) -> int:
    if artifact is not None:
        check_artifact_id(artifact)
    coordinator = open_existing(engine)
    try:
        entries = coordinator.audit(artifact, limit=limit)
        if artifact is not None and not entries and coordinator.artifact(artifact) is None:
            raise UnknownArtifact(f"no artifact {artifact!r} in this store", artifact=artifact)
    finally:
        coordinator.close()
    if as_json:
        out(json.dumps([e.to_dict() for e in entries], indent=2))
        return 0
    if not entries:
        out("no audit entries" + (f" for {artifact!r}" if artifact else ""))
        return 0
    for e in entries:
        out(("" if artifact else f"{e.artifact}  ") + describe(e))
    return 0


def show(engine: str, ref: str, as_json: bool, out: Callable[[str], None] | None = None) -> int:
    artifact, version = parse_ref(ref)
    coordinator = open_existing(engine)
    try:
        data = content_of(coordinator, artifact, version)
    finally:
        coordinator.close()
    text = _text(data)
    if as_json:
        (out or print)(json.dumps({
            "artifact": artifact, "version": version, "size": len(data),
            "encoding": "utf-8" if text is not None else "base64",
            "content": text if text is not None else base64.b64encode(data).decode()}, indent=2))
    elif out is not None:
        out(text if text is not None else data.hex())
    elif text is not None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


def diff(engine: str, artifact: str, a: int, b: int, as_json: bool,
         out: Callable[[str], None] = print) -> int:
    check_artifact_id(artifact)
    coordinator = open_existing(engine)
    try:
        old, new = content_of(coordinator, artifact, a), content_of(coordinator, artifact, b)
    finally:
        coordinator.close()
    old_text, new_text = _text(old), _text(new)
    if old_text is None or new_text is None:
        lines = [] if old == new else [f"binary content of {artifact}@{a} and {artifact}@{b} differ"]
    else:
        lines = list(difflib.unified_diff(old_text.splitlines(keepends=True),
                                          new_text.splitlines(keepends=True),
                                          f"{artifact}@{a}", f"{artifact}@{b}"))
        lines = [ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n" for ln in lines]
    text = "".join(lines)
    if as_json:
        out(json.dumps({"artifact": artifact, "from": a, "to": b, "identical": old == new,
                        "diff": text}, indent=2))
    elif text:
        out(text.rstrip("\n"))
    return 0
