"""The engine-kept audit log as a replay source: ``ccs replay sqlite:///state.db`` (any engine URL).

Each commit or delete in the log is a write event (``seen`` = the version it replaced), each
refusal a refused write (``seen`` = the version the writer claimed to derive from). Reclaims are
not store operations and are left out. The engine writes a commit and its entry in one
transaction, so a replay of the log checks the engine itself: a version claimed twice, a version
going backwards, or a commit that did not replace the version before it is a broken store.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ccs.protocol.audit import COMMITTED, DELETED, REFUSED
from ccs.replay.source import Event, MalformedHistory


def is_engine_url(path: object) -> bool:
    return isinstance(path, str) and "://" in path


def read_audit(url: str, progress: Callable[[int], None] | None = None) -> Iterator[Event]:
    from ccs.cli.inspect import open_existing

    coordinator = open_existing(url)
    try:
        entries = coordinator.audit()
    finally:
        coordinator.close()
    if not entries and coordinator.limits.audit_retain == 0:
        raise MalformedHistory(f"{url}: the audit log is off (Limits(audit_retain=0))")
    for n, entry in enumerate(entries, 1):
        if progress is not None:
            progress(n)
        if entry.outcome in (COMMITTED, DELETED):
            yield Event(line=n, t=entry.at, agent=entry.agent_name or "?", scope=None,
                        op="delete" if entry.outcome == DELETED else "put", artifact=entry.artifact,
                        seen=entry.base_version, version=entry.version, outcome="ok")
        elif entry.outcome == REFUSED:
            yield Event(line=n, t=entry.at, agent=entry.agent_name or "?", scope=None, op="put",
                        artifact=entry.artifact, seen=entry.base_version, version=entry.version,
                        outcome="conflict", error=entry.code or None)
