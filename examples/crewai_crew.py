"""Two CrewAI agents edit one shared plan at the same time; nothing is lost.

Runs offline with no API key: each agent's LLM is scripted (read the plan, think, write it back with
one more line). Both read version 1 before either writes: the classic lost update. With
``artifact_tools`` the second write is refused with a structured result, the agent re-reads and
re-derives its change, and the plan ends with both lines.

    python examples/crewai_crew.py            # needs the crewai extra: pip install 'agent-coherence[crewai]'
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading

os.environ.setdefault("CREWAI_DISABLE_TELEMETRY", "true")
os.environ.setdefault("OTEL_SDK_DISABLED", "true")
os.environ.setdefault("CREWAI_TRACING_ENABLED", "false")

from crewai.agent import Agent
from crewai.crew import Crew
from crewai.llms.base_llm import BaseLLM
from crewai.task import Task

from ccs.adapters import CoherenceAdapterCore
from ccs.adapters.crewai import artifact_tools

logging.getLogger("crewai.llms.base_llm").setLevel(logging.ERROR)  # "approximate token count"
BOTH_READ = threading.Barrier(2)
EVENTS: list[str] = []


def last_result(messages) -> dict | None:
    for m in reversed(messages if isinstance(messages, list) else [{"content": messages}]):
        found = re.findall(r"\{\"ok\".*\}", str(m.get("content", "")))
        if found:
            return json.loads(found[-1])
    return None


class ScriptedLLM(BaseLLM):
    """Plays one agent: read_artifact -> (wait until both have read) -> write_artifact; on a
    refusal, does what the result's ``recover`` says: read again, re-derive, write again."""

    step: str = "start"
    role: str = ""
    line: str = ""

    def call(self, messages, tools=None, callbacks=None, available_functions=None,
             from_task=None, from_agent=None, response_model=None, **kw):
        result = last_result(messages)
        if self.step == "start" or (self.step == "wrote" and result and not result["ok"]):
            if self.step == "wrote":
                EVENTS.append(f"{self.role}: write REFUSED ({result['code']}, plan is now "
                              f"v{result['current_version']}); recover: {result['recover']}")
            self.step = "read" if self.step == "start" else "reread"
            return act("read_artifact", artifact_id="plan.md")
        if self.step in ("read", "reread"):
            if self.step == "read":
                BOTH_READ.wait(timeout=30)
            EVENTS.append(f"{self.role}: read v{result['version']}, adding {self.line!r}")
            self.step = "wrote"
            return act("write_artifact", artifact_id="plan.md", content=result["content"] + self.line)
        EVENTS.append(f"{self.role}: write landed as v{result['version']}")
        return "Thought: done\nFinal Answer: plan updated"


def act(tool: str, **args) -> str:
    return f"Thought: use {tool}\nAction: {tool}\nAction Input: {json.dumps(args)}"


class Summary(BaseLLM):
    def call(self, messages, *args, **kw):
        return "Thought: done\nFinal Answer: both edits are in"


def main() -> str:
    core = CoherenceAdapterCore(engine="memory://")   # or sqlite:///state.db, postgresql://...
    core.agent("setup").write("plan.md", "# Plan\n1. collect requirements\n")

    lines = {"researcher": "2. survey prior art\n", "writer": "3. draft the report\n"}
    agents = [Agent(role=role, goal="extend the plan", backstory="a careful teammate",
                    llm=ScriptedLLM(model="scripted", role=role, line=line),
                    tools=artifact_tools(core, role), verbose=False)
              for role, line in lines.items()]
    tasks = [Task(description=f"Add your step to plan.md ({a.role})", expected_output="done",
                  agent=a, async_execution=True) for a in agents]   # the two run concurrently
    lead = Agent(role="lead", goal="sum up", backstory="b", llm=Summary(model="scripted"))
    tasks.append(Task(description="Confirm the plan", expected_output="ok", agent=lead,
                      context=list(tasks)))
    Crew(agents=[*agents, lead], tasks=tasks, verbose=False).kickoff()

    plan = core.agent("reader").read("plan.md")
    print("\n".join(EVENTS))
    print("\nfinal plan.md:\n" + plan)
    return plan


if __name__ == "__main__":
    main()
