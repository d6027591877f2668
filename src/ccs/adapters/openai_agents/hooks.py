"""Hooks that keep each agent's prompt coherent with the shared artifacts it has read.

Before every model call (``on_llm_start``) the artifacts this agent read that changed since are
rendered against the version its prompt holds (a diff when cheaper than the content, via
``ContextAgent``) and appended to that call's input (that call only: the SDK does not persist it).
By default this does **not** move the agent's view: a write derived from the old version is still
refused until the agent calls ``read_artifact``, so a model that ignores the note cannot clobber
the change. ``adopt=True`` treats the injected diff as the read (one round trip less; only for
models trusted to use it).

``on_tool_start`` / ``on_tool_end`` bind the calling agent to the tool call's ``ToolContext`` so
that any tool (yours too: ``shared.agent_name(ctx)``) acts as that agent, with that agent's view.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from agents import AgentHooks, RunHooks

from ccs.adapters.openai_agents.shared import BOUND_AGENT
from ccs.tokens import Rendered

if TYPE_CHECKING:
    from ccs.adapters.openai_agents.shared import SharedArtifacts

HEADER = "[agent-coherence] shared artifacts changed since you read them:"
KEEP_READING = ("Your writes are still checked against the versions you read: call read_artifact "
                "before writing any of these.")


class _Coherence:
    def __init__(self, shared: SharedArtifacts, *, agent: str | None = None, inject: bool = True,
                 adopt: bool = False, role: str = "user") -> None:
        self.shared = shared
        self.agent = agent
        self.inject = inject
        self.adopt = adopt
        self.role = role
        self.injected: list[Rendered] = []  # every rendering put into a prompt, for accounting

    def note(self, changed: list[Rendered]) -> str:
        lines = [HEADER, *(r.text for r in changed)]
        if not self.adopt:
            lines.append(KEEP_READING)
        return "\n".join(lines)

    async def _before_model(self, agent: Any, input_items: Any) -> None:
        if not self.inject or not isinstance(input_items, list):
            return
        name = self.shared.agent_name(agent=agent, override=self.agent)
        changed = await self.shared.achanges(name, adopt=self.adopt)
        if changed:
            self.injected.extend(changed)
            input_items.append({"role": self.role, "content": self.note(changed)})

    def _bind(self, context: Any, agent: Any) -> None:
        if context is None or getattr(context, "tool_call_id", None) is None:
            return  # not a tool call's own context: binding it would leak into the whole run
        name = self.shared.agent_name(agent=agent, override=self.agent)
        with contextlib.suppress(AttributeError, TypeError):
            setattr(context, BOUND_AGENT, name)

    def _unbind(self, context: Any) -> None:
        if context is not None and getattr(context, BOUND_AGENT, None) is not None:
            with contextlib.suppress(AttributeError):
                delattr(context, BOUND_AGENT)

    # RunHooks and AgentHooks name these hooks alike; _Coherence comes first in both subclasses.
    async def on_llm_start(self, context: Any, agent: Any, system_prompt: str | None,
                           input_items: list[Any]) -> None:
        await self._before_model(agent, input_items)

    async def on_tool_start(self, context: Any, agent: Any, tool: Any) -> None:
        self._bind(context, agent)

    async def on_tool_end(self, context: Any, agent: Any, tool: Any, result: object) -> None:
        self._unbind(context)


class CoherenceHooks(_Coherence, RunHooks):
    """``Runner.run(agent, input, hooks=CoherenceHooks(shared))``: for every agent of the run."""


class CoherenceAgentHooks(_Coherence, AgentHooks):
    """``Agent(hooks=CoherenceAgentHooks(shared))``: for one agent, whoever runs it."""

