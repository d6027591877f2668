"""OpenAI Agents SDK adapter: shared artifacts as checked function tools, hooks that keep each
agent's prompt coherent, and a ``Session`` whose transcript is coherent across runs.

>>> shared = SharedArtifacts(engine="sqlite:///state.db")
>>> agent = Agent(name="writer", tools=shared.tools())
>>> await Runner.run(agent, "...", hooks=shared.hooks(), session=shared.session("team-chat"))

The SDK (``agents``) is imported only by the modules that need it (tools, hooks, testing), so
``import ccs.adapters.openai_agents`` works without it.
"""

from __future__ import annotations

from typing import Any

from ccs.adapters.openai_agents.session import CoherentSession
from ccs.adapters.openai_agents.shared import SharedArtifacts

__all__ = ["CoherenceAgentHooks", "CoherenceHooks", "CoherentSession", "SharedArtifacts",
           "artifact_tools"]


def __getattr__(name: str) -> Any:
    if name in ("CoherenceHooks", "CoherenceAgentHooks"):
        from ccs.adapters.openai_agents import hooks
        return getattr(hooks, name)
    if name == "artifact_tools":
        from ccs.adapters.openai_agents.tools import artifact_tools
        return artifact_tools
    raise AttributeError(name)
