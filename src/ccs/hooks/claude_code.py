"""One Claude Code hook call: the payload in, the hook output JSON out.

Output, as Claude Code's hooks reference defines it (printed on stdout with exit code 0):

- nothing to say: ``{}`` (the tool runs as it would without the hook);
- strict mode, stale view, before an edit: ``hookSpecificOutput.permissionDecision: "deny"``
  with a ``permissionDecisionReason`` the model reads (who changed the file, which version, and
  to read it again); the edit does not run;
- warn mode, stale view: the edit runs; ``hookSpecificOutput.additionalContext`` tells the model
  and ``systemMessage`` tells the user;
- after an edit made on a stale view (warn mode, or two sessions in the same instant):
  ``additionalContext`` on the PostToolUse output says so.

Which files: those under the root (the repository) that the volume manages. Anything else (a path
outside the root, the ``.ccs/`` state, a tool other than Read/Edit/MultiEdit/Write/NotebookEdit,
Bash included) is let through untouched and unrecorded: a Bash command can write files no hook
sees, and such a write is only noticed as a change "outside any session" the next time a hook
looks at that file.
"""

from __future__ import annotations

import os
from typing import Any

from ccs import killswitch
from ccs.adapters.coherent_volume import CoherentVolume
from ccs.hooks.payload import HookCall, parse
from ccs.hooks.sessions import OUTSIDE, Check, SessionViews, describe
from ccs.protocol.errors import (
    CoherenceError,
    InternalError,
    InvalidRequest,
    PathOutsideWorkspace,
    UnmanagedPath,
)

MODES = ("warn", "strict")
HOOK = "ccs hook claude-code"


def relative(root: str, file_path: str) -> str | None:
    """``file_path`` relative to ``root`` if it is below it, else None (not ours to guard)."""
    if not os.path.isabs(file_path):
        file_path = os.path.join(root, file_path)
    rel = os.path.relpath(os.path.realpath(file_path), os.path.realpath(root))
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return rel.replace(os.sep, "/")


def _pre(decision: str | None = None, reason: str | None = None,
         context: str | None = None, message: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    specific: dict[str, Any] = {"hookEventName": "PreToolUse"}
    if decision:
        specific["permissionDecision"] = decision
        specific["permissionDecisionReason"] = reason
    if context:
        specific["additionalContext"] = context
    if len(specific) > 1:
        out["hookSpecificOutput"] = specific
    if message:
        out["systemMessage"] = message
    return out


def _post(context: str, message: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"hookSpecificOutput": {"hookEventName": "PostToolUse",
                                                  "additionalContext": context}}
    if message:
        out["systemMessage"] = message
    return out


def stale_output(check: Check, mode: str) -> dict[str, Any]:
    reason = check.reason()
    if mode == "strict":
        return _pre("deny", f"[agent-coherence] Edit refused: {reason}")
    return _pre(context=f"[agent-coherence] Warning: {reason}",
                message=f"agent-coherence: stale view of {check.path} (read v{check.seen}, "
                        f"now v{check.version})")


def unchecked_output(call: HookCall, exc: CoherenceError, mode: str) -> dict[str, Any]:
    """An edit the hook could not check (the state cannot be reached, a damaged state...): strict
    mode refuses it (fail closed), warn mode lets it run and says it was not checked."""
    what = f"[agent-coherence] could not check {call.file_path} [{exc.code}]: {exc.message}"
    if mode == "strict":
        return _pre("deny", f"{what}. The edit was not applied; {exc.recover or 'retry later'}")
    return _pre(context=f"{what}. The edit was NOT checked against other sessions.",
                message=what)


def _stale_commit_output(path: str, version: int, base: Check) -> dict[str, Any]:
    seen = "never read it" if base.seen is None else f"read version {base.seen}"
    text = (f"[agent-coherence] Your edit of {path} was applied over version {base.version}, "
            f"written by {describe(base.changed_by)}, but you {seen}. It is recorded as version "
            f"{version}. Read {path} again and check that the other change is still in it before "
            "editing it further.")
    return _post(text, f"agent-coherence: {path} edited on a stale view")


def disabled_output(call: HookCall) -> dict[str, Any]:
    """``CCS_DISABLE`` is on: nothing is checked or recorded, and each edit says so to the user."""
    if call.action != "pre-edit":
        return {}
    return {"systemMessage": f"agent-coherence is DISABLED (CCS_DISABLE is set): this edit of "
                             f"{call.file_path} is not checked against other sessions; lost "
                             "updates are possible"}


def open_volume(root: str, engine: str | None) -> CoherentVolume:
    return CoherentVolume(root, managed=None, engine=engine, agent=OUTSIDE, encoding=None)


def handle(payload: dict[str, Any], *, mode: str = "warn", root: str | None = None,
           engine: str | None = None, route: str | None = None,
           read_only: bool = False) -> dict[str, Any]:
    """The hook output for ``payload``. Raises typed errors for a malformed payload; an edit that
    cannot be checked, for whatever reason, gives ``unchecked_output`` instead of raising."""
    if mode not in MODES:
        raise InvalidRequest(f"mode must be one of {MODES}, not {mode!r:.40}")
    call = parse(payload, route)
    if call.action == "ignore":
        return {}
    try:
        return _guarded(call, mode, root, engine, read_only)
    except (PathOutsideWorkspace, UnmanagedPath):
        return {}  # the state directory, an unmanaged file: not guarded
    except Exception as exc:
        err = exc if isinstance(exc, CoherenceError) else InternalError(
            f"the hook failed unexpectedly: {type(exc).__name__}: {exc}"[:500])
        if call.action == "pre-edit":
            return unchecked_output(call, err, mode)
        if err is exc:
            raise
        raise err from exc


def _guarded(call: HookCall, mode: str, root: str | None, engine: str | None,
             read_only: bool) -> dict[str, Any]:
    if killswitch.coherence_disabled(HOOK):  # InvalidSwitch if misspelt: neither on nor off
        return disabled_output(call)
    root = root or call.cwd
    if not root or not os.path.isabs(root) or not os.path.isdir(root):
        raise InvalidRequest(f"no repository root: --root not given and the payload's cwd "
                             f"{call.cwd!r:.200} is not an absolute directory",
                             recover="pass --root DIR (or set CLAUDE_PROJECT_DIR)")
    path = relative(root, call.file_path) if call.file_path else None
    if call.action != "session-stop" and path is None:
        return {}
    with open_volume(root, engine) as volume:
        return _run(call, SessionViews(volume, call.session), path, mode, read_only)


def _run(call: HookCall, views: SessionViews, path: str | None, mode: str,
         read_only: bool) -> dict[str, Any]:
    if read_only:
        return _read_only(call, views, path, mode)
    if call.action == "session-stop":
        views.release()
        return {}
    assert path is not None
    if call.action == "pre-read":
        views.pre_read(path, call.tool_use_id)
        return {}
    if call.action == "read":
        views.read(path, call.tool_use_id)
        return {}
    if call.action == "pre-edit":
        check = views.check(path)
        return {} if check.current else stale_output(check, mode)
    version, base = views.commit(path)
    return {} if base.current else _stale_commit_output(path, version, base)


def _read_only(call: HookCall, views: SessionViews, path: str | None, mode: str) -> dict[str, Any]:
    """A read-only coordinator records nothing, but still refuses (strict) or flags (warn) an
    edit whose view it can prove stale: the version moved, or the disk holds unrecorded bytes."""
    note = "agent-coherence: the coordinator is read-only; this hook call was not recorded"
    if call.action != "pre-edit" or path is None:
        return {"systemMessage": note}
    entry = views.volume.status(path)["files"][0]
    seen = views.seen(entry["path"])
    current = entry["disk"] in ("clean", "pending") and (
        seen == entry["version"] or (seen is None and not entry["exists"]))
    if current:
        return {}
    by = OUTSIDE if entry["disk"] == "foreign" else entry["updated_by"]
    return stale_output(Check(entry["path"], False, seen, entry["version"], by, entry["exists"]), mode)
