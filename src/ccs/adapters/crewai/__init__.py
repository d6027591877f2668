"""CrewAI adapter: coherent memory storage, shared-artifact tools, coherent Flow fields.

CrewAI is imported lazily (it takes seconds and weighs a gigabyte): importing this package never
needs it; using a name below does.

- ``install(core)`` / ``CoherentMemoryStorage(core)``: a CrewAI ``StorageBackend`` whose records
  live in a shared ``CoherenceAdapterCore``; ``update``/``delete``/consolidation writes are checked
  against the version the record was read at (``ccs_version`` in its metadata).
- ``CoherentMemory``: CrewAI's ``Memory``, with ``agent_role`` passed on to the storage.
- ``artifact_tools(core, role)``: ``read_artifact``, ``write_artifact``, ``update_artifact``
  CrewAI tools bound to an agent's role; a refused write is a structured tool result.
- ``SharedField(core, artifact)``: a value parallel Flow listeners update without losing writes.
"""

from __future__ import annotations

from typing import Any

from ccs.adapters.crewai.identity import acting_as, current_role, role_from_scope

__all__ = ["CoherentMemory", "CoherentMemoryStorage", "SharedField", "acting_as", "artifact_tools",
           "current_role", "install", "render_context", "role_from_scope", "uninstall"]


def __getattr__(name: str) -> Any:
    if name in ("CoherentMemoryStorage", "install", "uninstall"):
        from ccs.adapters.crewai import storage
        return getattr(storage, name)
    if name == "artifact_tools":
        from ccs.adapters.crewai.tools import artifact_tools
        return artifact_tools
    if name == "CoherentMemory":
        from ccs.adapters.crewai.memory import CoherentMemory
        return CoherentMemory
    if name == "render_context":
        from ccs.adapters.crewai.context import render_context
        return render_context
    if name == "SharedField":
        from ccs.adapters.crewai.flow import SharedField
        return SharedField
    raise AttributeError(name)
