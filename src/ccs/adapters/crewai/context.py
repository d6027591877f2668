"""The stateless prompt context for a CrewAI agent (its role on a shared core)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ccs.client.core import CoherenceAdapterCore


def render_context(core: CoherenceAdapterCore, role: str, ids: Iterable[str], **options: Any) -> Any:
    """Agent ``role``'s stateless prompt over ``ids`` (options as ``Agent.render_context``); put
    its ``text`` in the task description or the agent's backstory each turn."""
    return core.agent(role).render_context(list(ids), **options)
