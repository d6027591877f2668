"""``CoherentMemory``: CrewAI's ``Memory`` that tells the storage which agent is remembering.

CrewAI passes ``agent_role`` to ``remember``/``remember_many`` but never to the storage; with a
``root_scope`` the role is also in the scope (``…/agent/<role>``), which the storage reads, and
without one it is lost. This subclass runs each call inside ``acting_as(agent_role)`` (CrewAI copies
the context into its background save pool), so records are committed by that agent either way.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from crewai.memory.unified_memory import Memory

from ccs.adapters.crewai.identity import acting_as

_ROLE_POSITION = 7  # remember(content, scope, categories, metadata, importance, source, private,
#                              agent_role, root_scope); remember_many has the same order


def _role(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    role = kwargs.get("agent_role")
    if role is None and len(args) > _ROLE_POSITION:
        role = args[_ROLE_POSITION]
    return acting_as(role) if isinstance(role, str) and role else nullcontext()


class CoherentMemory(Memory):
    def remember(self, *args: Any, **kwargs: Any) -> Any:
        with _role(args, kwargs):
            return super().remember(*args, **kwargs)

    def remember_many(self, *args: Any, **kwargs: Any) -> Any:
        with _role(args, kwargs):
            return super().remember_many(*args, **kwargs)
