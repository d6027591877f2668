"""Shared by the OpenAI Agents SDK tests: a team of real ``Agent``s run concurrently by real
``Runner.run``, each with a scripted model that reads a shared document, waits until every agent
has read it (the "thinking" window), and writes back the document plus its own line."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from agents import Agent, Runner, function_tool, set_tracing_disabled

from ccs.adapters.openai_agents.testing import ScriptedModel, Turn, call, say

set_tracing_disabled(True)

DOC = "tasks.md"
START = "# tasks\n"


def line(name: str) -> str:
    return f"- {name}: done\n"


def team_policy(name: str, barrier: asyncio.Barrier, recover: str = "reread"):
    """read -> (wait for all) -> write(read value + own line); on a refusal re-read and re-derive
    (``recover="reread"``) or ask for an atomic append (``"update"``)."""
    waited = False

    async def policy(turn: Turn) -> Any:
        nonlocal waited
        last = turn.last()
        if last is None:
            return call("read_artifact", artifact_id=DOC)
        if not last.get("ok"):
            if recover == "update":
                return call("update_artifact", artifact_id=DOC, append=line(name))
            return call("read_artifact", artifact_id=DOC)
        if "exists" in last:  # a read: derive the new content from it
            if not waited:
                waited = True
                await barrier.wait()  # every agent has read: all derive from the same version
            return call("write_artifact", artifact_id=DOC, content=(last["value"] or "") + line(name))
        return say(f"{name} wrote v{last['version']}")

    return policy


def dict_tools(store: dict[str, str]) -> list[Any]:
    """The baseline: the same tools over a plain dict, as one writes them without the adapter."""

    @function_tool
    def read_artifact(artifact_id: str) -> str:
        """Read a shared document."""
        value = store.get(artifact_id)
        return json.dumps({"ok": True, "artifact": artifact_id, "exists": value is not None,
                           "value": value})

    @function_tool
    def write_artifact(artifact_id: str, content: str) -> str:
        """Replace a shared document."""
        store[artifact_id] = content
        return json.dumps({"ok": True, "artifact": artifact_id, "version": None})

    return [read_artifact, write_artifact]


async def run_team(names: list[str], tools: Any, *, hooks: Any = None, recover: str = "reread",
                   max_turns: int = 30) -> list[ScriptedModel]:
    """Runs one agent per name concurrently; ``tools(name)`` gives each agent its tools."""
    barrier = asyncio.Barrier(len(names))
    models = [ScriptedModel(team_policy(n, barrier, recover)) for n in names]
    agents = [Agent(name=n, instructions="Add your line to tasks.md.", model=m, tools=tools(n))
              for n, m in zip(names, models, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(
        Runner.run(a, "add your line", hooks=hooks, max_turns=max_turns) for a in agents)), 60)
    return models
