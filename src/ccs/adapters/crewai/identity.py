"""Who is calling. CrewAI never hands the agent to a ``StorageBackend``: the role is known at the
``Memory`` level (``agent_role``), in the per-agent scope ``…/agent/<role>`` a crew with a
``root_scope`` saves under, or wherever the caller says so with ``acting_as(role)``.

Order: an explicit agent on the storage, then ``acting_as``, then the scope, then the default.
``acting_as`` is a context variable: CrewAI copies the context into its background save pool, so
a ``remember_many`` started inside ``acting_as`` is attributed to that role.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

_ROLE: contextvars.ContextVar[str | None] = contextvars.ContextVar("ccs_crewai_role", default=None)


@contextmanager
def acting_as(role: str) -> Iterator[None]:
    """Attribute the memory operations inside the block to agent ``role``."""
    token = _ROLE.set(role)
    try:
        yield
    finally:
        _ROLE.reset(token)


def current_role() -> str | None:
    return _ROLE.get()


def role_from_scope(scope: str | None) -> str | None:
    """``/crew/x/agent/researcher/notes`` -> ``researcher`` (the last ``agent/<role>`` pair)."""
    if not scope:
        return None
    parts = [p for p in scope.split("/") if p]
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "agent":
            return parts[i + 1]
    return None


def resolve(explicit: str | None, scope: str | None, default: str) -> str:
    return explicit or _ROLE.get() or role_from_scope(scope) or default
