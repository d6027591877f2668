"""Validation of agent and artifact identifiers (pure)."""

from __future__ import annotations

import re

from ccs.protocol.errors import InvalidIdentifier

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ARTIFACT_ID = 1024
MAX_AGENT_ID = 256


def check_artifact_id(artifact_id: object) -> str:
    return _check(artifact_id, "artifact id", MAX_ARTIFACT_ID)


def check_agent_id(agent_id: object) -> str:
    return _check(agent_id, "agent id", MAX_AGENT_ID)


# Identifiers already validated, per kind: a hot path checks the same few ids over and over.
_KNOWN_GOOD: dict[str, set[str]] = {"artifact id": set(), "agent id": set()}
_KNOWN_GOOD_MAX = 65_536


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
    if not value or len(value) > limit or _CONTROL.search(value):
        raise InvalidIdentifier(
            f"invalid {what} {value[:80]!r}: must be 1..{limit} characters without control characters",
            artifact=value[:80] if what == "artifact id" else None,
        )
