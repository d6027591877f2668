"""The Claude Code hook input, checked: which session, which event, which tool, which file.

Claude Code sends one JSON object on the hook's stdin (``session_id``, ``cwd``,
``hook_event_name``, and for tool events ``tool_name``, ``tool_input``, ``tool_use_id``; file
paths in ``tool_input`` are absolute). Anything that is not such an object is refused with
``InvalidHookPayload``; a well-formed payload for a tool or event this package does not cover is
not an error: it parses to an ``action`` of ``"ignore"``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from ccs.protocol.errors import InvalidHookPayload

MAX_PAYLOAD = 64 * 1024 * 1024  # Write and Edit payloads carry whole files (content, originalFile)
READ_TOOLS = ("Read",)
EDIT_TOOLS = ("Edit", "MultiEdit", "Write", "NotebookEdit")
_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
ACTIONS = ("pre-read", "read", "pre-edit", "post-edit", "session-stop", "ignore")
# The HTTP routes (``/hooks/<route>``) and the actions each one takes; "ignore" always passes.
ROUTES = {"pre-read": ("pre-read", "read"), "pre-edit": ("pre-edit",),
          "post-edit": ("post-edit",), "session-stop": ("session-stop",)}


@dataclass(frozen=True, slots=True)
class HookCall:
    session: str
    event: str
    action: str  # one of ACTIONS: what this package does with the call
    tool: str | None = None
    file_path: str | None = None
    tool_use_id: str | None = None
    cwd: str | None = None


def _bad(message: str, **details: Any) -> InvalidHookPayload:
    return InvalidHookPayload(f"invalid Claude Code hook input: {message}", **details)


def parse_json(raw: bytes | str) -> dict[str, Any]:
    if len(raw) > MAX_PAYLOAD:
        raise _bad(f"{len(raw)} bytes, more than the {MAX_PAYLOAD} accepted", size=len(raw))
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad(f"not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise _bad(f"expected a JSON object, got {type(payload).__name__}")
    return payload


def _text(payload: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or "\x00" in value:
        raise _bad(f"{key!r} must be a non-empty string, got {value!r:.80}", field=key)
    return value


def _action(event: str, tool: str | None) -> str:
    if event in ("SessionEnd",):
        return "session-stop"
    if event == "PreToolUse":
        return "pre-read" if tool in READ_TOOLS else "pre-edit" if tool in EDIT_TOOLS else "ignore"
    if event == "PostToolUse":
        return "read" if tool in READ_TOOLS else "post-edit" if tool in EDIT_TOOLS else "ignore"
    return "ignore"  # Stop ends a turn, not the session: views must outlive it


def route_of(action: str) -> str:
    return next(route for route, actions in ROUTES.items() if action in actions)


def parse(payload: dict[str, Any], route: str | None = None) -> HookCall:
    """The call a payload describes: the event and tool say what to do. Through an HTTP
    ``route``, the action must be one that route takes (``/hooks/session-stop`` releases the
    session's views whatever the event is called)."""
    if not isinstance(payload, dict):
        raise _bad(f"expected a JSON object, got {type(payload).__name__}")
    session = _text(payload, "session_id")
    if not _SESSION_ID.match(session):
        raise _bad(f"session_id {session!r:.80} is not an id (letters, digits, '.', '_', '-')",
                   field="session_id")
    event = _text(payload, "hook_event_name")
    tool = _text(payload, "tool_name") if event in ("PreToolUse", "PostToolUse") else None
    cwd = _text(payload, "cwd", required=False)
    act = "session-stop" if route == "session-stop" else _action(event, tool)
    if route is not None and act != "ignore" and act not in ROUTES[route]:
        raise _bad(f"a {event} {tool or ''} payload does not belong on /hooks/{route} (it is "
                   f"/hooks/{route_of(act)}'s)", field="hook_event_name", route=route)
    file_path = tool_use_id = None
    if act in ("pre-read", "read", "pre-edit", "post-edit"):
        tool_input = payload.get("tool_input")
        if not isinstance(tool_input, dict):
            raise _bad(f"'tool_input' must be an object for {tool}, got {tool_input!r:.80}",
                       field="tool_input")
        key = "notebook_path" if tool == "NotebookEdit" else "file_path"
        file_path = _text(tool_input, key)
        tool_use_id = _text(payload, "tool_use_id", required=False)
    return HookCall(session, event, act, tool, file_path, tool_use_id, cwd)


def essentials(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields ``parse`` reads, for posting to a server: a Write's ``content`` and an Edit's
    ``tool_response.originalFile`` carry whole files the hooks never look at (and that could
    exceed a server's request size limit)."""
    out = {k: payload[k] for k in ("session_id", "cwd", "hook_event_name", "tool_name", "tool_use_id")
           if k in payload}
    tool_input = payload.get("tool_input")
    if isinstance(tool_input, dict):
        out["tool_input"] = {k: tool_input[k] for k in ("file_path", "notebook_path") if k in tool_input}
    elif "tool_input" in payload:
        out["tool_input"] = tool_input  # malformed: let the server say so
    return out
