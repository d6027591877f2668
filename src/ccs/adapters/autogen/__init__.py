"""AutoGen (autogen-agentchat / autogen-core 0.7) over coherent shared artifacts.

>>> shared = SharedArtifacts("memory://", artifacts=["plan.md"])
>>> writer = AssistantAgent("writer", model_client=client,
...                         memory=[shared.memory_for("writer")], tools=shared.tools_for("writer"))

``CoherentMemory`` (an ``autogen_core.memory.Memory``) injects each shared artifact as that
agent should see it (content, a reference when unchanged, a diff when changed); the tools
``read_artifact``/``write_artifact``/``update_artifact`` refuse a write derived from a stale
read with a JSON result the model can act on. AutoGen is imported only by ``memory`` and
``tools`` (``ccs.adapters`` itself never imports it).
"""

from __future__ import annotations

from typing import Any

from ccs.adapters.autogen.shared import SharedArtifacts, private_artifact

__all__ = ["CoherentMemory", "SharedArtifacts", "artifact_tools", "private_artifact"]


def __getattr__(name: str) -> Any:
    if name == "CoherentMemory":
        from ccs.adapters.autogen.memory import CoherentMemory
        return CoherentMemory
    if name == "artifact_tools":
        from ccs.adapters.autogen.tools import artifact_tools
        return artifact_tools
    raise AttributeError(name)
