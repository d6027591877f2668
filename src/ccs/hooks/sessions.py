"""Which version of each file a coding session has seen, and the checks made with it.

A Claude Code session is one agent; each hook call is a short process, so the session's views
cannot live in an in-process cache: they are a record in the volume's state,
``.ccs/claude-code/<session_id>`` (unreachable through a file path), holding the version of
each file the session last read and the reads in flight. Files themselves are a
``CoherentVolume``: a file changed outside every session (an editor, a script, a Bash command)
is adopted as a new version by the agent ``outside-any-session`` when a hook next looks at it,
so a session that read the older content is stale then as well.

The order that makes a lost edit impossible to miss:

- a Read is registered before the tool runs (``pre-read``) at the version then current, and
  becomes the session's view after it ran (``read``): a change racing the read leaves the view
  older than what was read, never newer, so the next edit is refused, never let through;
- an edit is checked before the tool runs (``pre-edit``): the session's view must be the current
  version;
- after the tool wrote the file, its bytes are committed as the session's change with a
  compare-and-set on that version (``post-edit``); if the record moved meanwhile (a warned edit,
  or two sessions editing in the same instant) the bytes are still recorded, since they are the
  file now, but the session's view is left behind so that it must read the file again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.adapters.coherent_volume.paths import STATE_DIR
from ccs.protocol.errors import ConflictError, RetriesExhausted, VersionConflict
from ccs.protocol.ids import agent_name

VIEWS_PREFIX = STATE_DIR + "/claude-code/"
OUTSIDE = "outside-any-session"
SESSION_PREFIX = "claude-code:"
MAX_IN_FLIGHT = 64  # reads registered whose PostToolUse never came (the tool failed)
ATTEMPTS = 16


def session_agent(session: str) -> str:
    return SESSION_PREFIX + session


def describe(updated_by: str | None) -> str:
    """Who made a version, in words a model can act on."""
    name = agent_name(updated_by) if updated_by else ""
    if name == OUTSIDE:
        return "a change made outside any Claude Code session (an editor, a script or a Bash command)"
    if name.startswith(SESSION_PREFIX):
        return f"Claude Code session {name[len(SESSION_PREFIX):][:8]}"
    return f"agent {name}" if name else "an unknown writer"


@dataclass(frozen=True, slots=True)
class Check:
    """The verdict on a session's view of one file before an edit."""

    path: str
    current: bool
    seen: int | None  # the version the session read (None: it never read the file)
    version: int  # the current version
    changed_by: str | None = None
    exists: bool = True

    def reason(self) -> str:
        if self.seen is None:
            head = (f"{self.path} exists (version {self.version}) but this session has not read it "
                    f"through the Read tool")
        else:
            head = (f"{self.path} changed since this session read it: you read version {self.seen}, "
                    f"it is now version {self.version}, written by {describe(self.changed_by)}")
        return (f"{head}. Editing it now could overwrite that change. Read {self.path} again, "
                "then redo your edit on its current content.")


class SessionViews:
    """One session's views of the files of one volume."""

    def __init__(self, volume: CoherentVolume, session: str) -> None:
        self.volume = volume
        self.session = session
        self.agent = volume.core.agent(session_agent(session))
        self.key = VIEWS_PREFIX + session

    # --- the record ---------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        value = self.agent.read_with_version(self.key, None).value
        return value if isinstance(value, dict) else {}

    def seen(self, aid: str) -> int | None:
        version = self.record().get("views", {}).get(aid)
        return version if isinstance(version, int) else None

    def _update(self, change: Any) -> None:
        def fn(old: Any) -> dict[str, Any]:
            rec = dict(old) if isinstance(old, dict) else {}
            rec["views"] = dict(rec.get("views") or {})
            rec["reading"] = dict(rec.get("reading") or {})
            change(rec)
            while len(rec["reading"]) > MAX_IN_FLIGHT:
                rec["reading"].pop(next(iter(rec["reading"])))
            return rec
        self.agent.write_cas(self.key, fn, retries=ATTEMPTS)

    def _set_view(self, aid: str, version: int) -> None:
        self._update(lambda rec: rec["views"].__setitem__(aid, version))

    # --- the hook actions ---------------------------------------------------------------------

    def current(self, path: str) -> tuple[str, int, bool, str | None]:
        """``(id, version, exists, updated_by)`` of a file, after adopting a change on disk that
        no session recorded (the volume's agent is ``outside-any-session``)."""
        v = self.volume.read_with_version(path)
        aid = self.volume.artifact_id(path)
        rec = self.volume.coordinator.artifact(aid)
        return aid, v.version, v.value is not None, None if rec is None else rec.updated_by

    def pre_read(self, path: str, tool_use_id: str | None) -> None:
        aid, version, _, _ = self.current(path)
        if tool_use_id:
            self._update(lambda rec: rec["reading"].__setitem__(tool_use_id, [aid, version]))

    def read(self, path: str, tool_use_id: str | None) -> int:
        """The version that becomes the session's view: the one registered before the read when
        there was one (older or equal), else the one current now."""
        aid, version, _, _ = self.current(path)
        chosen = [version]

        def change(rec: dict[str, Any]) -> None:
            pending = rec["reading"].pop(tool_use_id, None) if tool_use_id else None
            if isinstance(pending, list) and len(pending) == 2 and pending[0] == aid \
                    and isinstance(pending[1], int):
                chosen[0] = pending[1]
            rec["views"][aid] = chosen[0]
        self._update(change)
        return chosen[0]

    def check(self, path: str) -> Check:
        aid, version, exists, by = self.current(path)
        seen = self.seen(aid)
        ok = seen == version or (seen is None and not exists)
        return Check(aid, ok, seen, version, by, exists)

    def commit(self, path: str) -> tuple[int, Check]:
        """Record the bytes the tool wrote as this session's change. Returns the new version and
        the check of the view the edit was made on (``current=False``: made on a stale view)."""
        aid = self.volume.artifact_id(path)
        seen = self.seen(aid)
        for _ in range(ATTEMPTS):
            rec = self.volume.coordinator.artifact(aid)
            version = 0 if rec is None else rec.version
            base = Check(aid, seen == version or (seen is None and (rec is None or not rec.exists)),
                         seen, version, None if rec is None else rec.updated_by,
                         rec is not None and rec.exists)
            try:
                new = self.volume.commit_disk(path, version, agent=self.agent)
            except VersionConflict:
                continue  # another session's commit landed in between: recheck against it
            if base.current:
                self._set_view(aid, new)
            return new, base
        raise RetriesExhausted(f"could not record the edit of {aid!r}: other sessions kept "
                               "committing", artifact=aid)

    def release(self) -> bool:
        """Forget this session's views (its record is deleted). False if it had none."""
        for _ in range(ATTEMPTS):
            v = self.agent.read_with_version(self.key, None)
            if v.value is None:
                return False
            try:
                self.agent.commit_payload(self.key, v.version, None)
                return True
            except ConflictError:
                continue
        raise RetriesExhausted(f"could not release the views of session {self.session}",
                               artifact=self.key)
