"""Three AutoGen agents extend one shared plan; no API key needed (scripted models).

Each agent reads ``plan.md``, lets the others take their turns ("thinks"), then writes back what
it read plus its own line: the lost-update shape. Run twice with the same scripted models:

* over a plain dict behind the same tools: every write "succeeds" and only the last line survives;
* over ``SharedArtifacts``: a write derived from a stale read comes back ``ok: false`` with
  ``code: version_conflict``; the model re-reads, re-derives and writes again, and every line lands.

    python examples/autogen_team.py [sqlite:///team.db]
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sys
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core import FunctionCall
from autogen_core.models import (
    CreateResult,
    FunctionExecutionResultMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
)
from autogen_core.tools import FunctionTool
from autogen_ext.models.replay import ReplayChatCompletionClient

from ccs.adapters.autogen import SharedArtifacts

LINES = {"alice": "- alice: write the intro\n", "bob": "- bob: add tests\n",
         "carol": "- carol: plan the deploy\n"}
BASE = "# plan\n"
ROUNDS = 6
_ids = itertools.count()
logging.getLogger("autogen_core.events").setLevel(logging.ERROR)  # the replay client's token notes


class ScriptedModel(ReplayChatCompletionClient):
    """Each turn decides from the tool results in the agent's own context, like a model would:
    read; then write what was read plus my line; on a refusal, read again; once landed, done."""

    def __init__(self, line: str) -> None:
        super().__init__(["done"] * ROUNDS, model_info=ModelInfo(
            vision=False, function_calling=True, json_output=False, family=ModelFamily.UNKNOWN,
            structured_output=False))
        self.line = line

    async def create(self, messages: Any, **kwargs: Any) -> CreateResult:
        results = [{"tool": r.name, **json.loads(r.content)} for m in messages
                   if isinstance(m, FunctionExecutionResultMessage) for r in m.content]
        if not results:
            self.chat_completions[self._current_index] = call("read_artifact", artifact="plan.md")
        elif results[-1]["tool"] == "read_artifact":
            self.chat_completions[self._current_index] = call(
                "write_artifact", artifact="plan.md", content=results[-1]["content"] + self.line)
        elif not results[-1]["ok"]:
            self.chat_completions[self._current_index] = call("read_artifact", artifact="plan.md")
        return await super().create(messages, **kwargs)


def call(tool: str, **arguments: Any) -> CreateResult:
    return CreateResult(finish_reason="function_calls", cached=False,
                        usage=RequestUsage(prompt_tokens=0, completion_tokens=0),
                        content=[FunctionCall(id=f"c{next(_ids)}", name=tool,
                                              arguments=json.dumps(arguments))])


def dict_tools(store: dict[str, str]) -> list[FunctionTool]:
    """What a team shares state through today: a dict behind two tools. Last write wins."""

    async def read_artifact(artifact: str) -> str:
        return json.dumps({"ok": True, "content": store.get(artifact)})

    async def write_artifact(artifact: str, content: str) -> str:
        store[artifact] = content
        return json.dumps({"ok": True})

    return [FunctionTool(read_artifact, "Read a shared artifact."),
            FunctionTool(write_artifact, "Replace a shared artifact's content.")]


async def run_team(tools_for) -> list[Any]:
    agents = [AssistantAgent(name, model_client=ScriptedModel(line), tools=tools_for(name))
              for name, line in LINES.items()]
    result = await RoundRobinGroupChat(agents, max_turns=ROUNDS * len(agents)).run(task="plan")
    return result.messages


def report(messages: list[Any]) -> None:
    names: dict[str, str] = {}
    for m in messages:
        if isinstance(m, ToolCallRequestEvent):
            names.update((c.id, c.name) for c in m.content)
        if isinstance(m, ToolCallExecutionEvent):
            for r in m.content:
                res = json.loads(r.content)
                at = f" v{res['version']}" if "version" in res else ""
                if names[r.call_id] == "read_artifact":
                    print(f"  {m.source:6} read_artifact  -> read{at}")
                elif res["ok"]:
                    print(f"  {m.source:6} write_artifact -> landed{at}")
                else:
                    print(f"  {m.source:6} write_artifact -> REFUSED {res['code']} "
                          f"(current v{res['current_version']}); nothing written")


async def main(engine: str = "memory://") -> tuple[str, str]:
    store = {"plan.md": BASE}
    print("Plain dict (last write wins):")
    report(await run_team(lambda name: dict_tools(store)))
    print(store["plan.md"], end="")
    lost = [n for n, line in LINES.items() if line not in store["plan.md"]]
    print(f"  -> lost: {', '.join(lost) or 'nothing'}\n")

    shared = SharedArtifacts(engine, ["plan.md"])
    try:
        shared.agent("setup").write("plan.md", BASE)
        print(f"SharedArtifacts ({engine}):")
        report(await run_team(shared.tools_for))
        plan = shared.agent("reader").read("plan.md")
    finally:
        shared.close()
    print(plan, end="")
    lost = [n for n, line in LINES.items() if line not in plan]
    print(f"  -> lost: {', '.join(lost) or 'nothing'}")
    return store["plan.md"], plan


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:2]))
