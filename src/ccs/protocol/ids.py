"""Validation of agent and artifact identifiers (pure).

Limits are in bytes of UTF-8, the unit every engine stores: the same id is valid on all of them.
An artifact's record key is ``a/<id>`` and an agent's ``g/<id>``; at 1026 bytes the longest key
stays far below PostgreSQL's b-tree entry limit (about 2700 bytes), and Redis and SQLite take it.
"""

from __future__ import annotations

import re

from ccs.protocol.errors import InvalidIdentifier

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ARTIFACT_ID = 1024  # bytes of UTF-8
MAX_AGENT_NAME = 256  # bytes of UTF-8
INSTANCE_TOKEN_HEX = 12
# Artifact ids the library keeps for itself (the effect outbox, ``ccs.protocol.effects``): a
# user's read or write of one is refused, so only the library's own transitions change them.
RESERVED_PREFIX = "ccs::"
_RESERVED_HINT = f", not starting with {RESERVED_PREFIX!r} (the effect outbox: agent.pending_effects())"
MAX_AGENT_ID = MAX_AGENT_NAME + 1 + INSTANCE_TOKEN_HEX  # name@token
_INSTANCE_SUFFIX = re.compile(rf"@[0-9a-f]{{{INSTANCE_TOKEN_HEX}}}\Z")


def check_artifact_id(artifact_id: object) -> str:
    return _check(artifact_id, "artifact id", MAX_ARTIFACT_ID)


def check_agent_id(agent_id: object) -> str:
    """An agent id as the protocol tracks it (sharers, owner, liveness, event targets)."""
    return _check(agent_id, "agent id", MAX_AGENT_ID)


def check_agent_name(name: object) -> str:
    """The readable name a client gives an agent (``core.agent("planner")``)."""
    return _check(name, "agent name", MAX_AGENT_NAME)


def instance_agent_id(name: str, token: str) -> str:
    """The protocol id of agent ``name`` in one client instance: ``name@token``. Two processes
    (or two cores in one process) running an agent of the same name are two agents: each one's
    commits invalidate the other's copies, which one shared id would never do."""
    return f"{name}@{token}"


def agent_name(agent_id: str) -> str:
    """The readable name in an agent id (the id itself if it carries no instance token)."""
    if len(agent_id) > INSTANCE_TOKEN_HEX + 1 and _INSTANCE_SUFFIX.search(agent_id):
        return agent_id[:-INSTANCE_TOKEN_HEX - 1]
    return agent_id


# Identifiers already validated, per kind: a hot path checks the same few ids over and over.
_KNOWN_GOOD: dict[str, set[str]] = {"artifact id": set(), "agent id": set(), "agent name": set()}
_KNOWN_GOOD_MAX = 65_536


_KNOWN_AGENT_IDS = _KNOWN_GOOD["agent id"]
_KNOWN_ARTIFACT_IDS = _KNOWN_GOOD["artifact id"]


def check_request_ids(agent_id: object, artifact_id: object) -> None:
    """``check_agent_id`` then ``check_artifact_id``, in one call for the operations that name
    both (every read and commit): ids seen before cost two set lookups."""
    if agent_id.__class__ is not str or agent_id not in _KNOWN_AGENT_IDS:
        check_agent_id(agent_id)
    if artifact_id.__class__ is not str or artifact_id not in _KNOWN_ARTIFACT_IDS:
        check_artifact_id(artifact_id)


def _check(value: object, what: str, limit: int) -> str:
    known = _KNOWN_GOOD[what]
    if value.__class__ is str and value in known:
        return value  # type: ignore[return-value]
    _validate(value, what, limit)
    if len(known) < _KNOWN_GOOD_MAX:
        known.add(value)  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


def _validate(value: object, what: str, limit: int) -> None:
    if not isinstance(value, str):
        raise InvalidIdentifier(f"{what} must be a string, got {type(value).__name__}",
                                artifact=None, value=repr(value)[:80])
    try:
        size = len(value.encode("utf-8"))
        problem = None
    except UnicodeEncodeError:
        size, problem = 0, "a lone surrogate (not valid Unicode)"
    if problem is None and not value:
        problem = "empty"
    elif problem is None and size > limit:
        problem = f"{size} bytes of UTF-8; the limit is {limit}"
    elif problem is None and _CONTROL.search(value):
        problem = "a control character"
    elif problem is None and what == "artifact id" and value.startswith(RESERVED_PREFIX):
        problem = f"ids starting with {RESERVED_PREFIX!r} are reserved for the library's own records"
    if problem is not None:
        shown = value[:80].encode("utf-8", "backslashreplace").decode("utf-8")
        raise InvalidIdentifier(
            f"invalid {what} {shown!r}: {problem}",
            artifact=shown if what == "artifact id" else None, limit_bytes=limit,
            recover=f"use a non-empty string of valid Unicode without control characters, at most "
                    f"{limit} bytes of UTF-8{_RESERVED_HINT if what == 'artifact id' else ''}; "
                    "nothing was changed")
