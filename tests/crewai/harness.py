"""Offline CrewAI harness: a scripted ``BaseLLM`` that plays one agent's ReAct turns, a hashing
embedder, and the baseline tools (a plain dict, last write wins) the coherent ones are compared to.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from typing import Any

from crewai.agent import Agent
from crewai.crew import Crew
from crewai.llms.base_llm import BaseLLM
from crewai.process import Process
from crewai.task import Task
from crewai.tools import BaseTool
from pydantic import BaseModel, PrivateAttr

from ccs.adapters.crewai.tools import ReadArgs, WriteArgs


def embed(texts: list[str]) -> list[list[float]]:
    """A deterministic 16-dim embedder: equal texts get equal vectors."""
    out = []
    for t in texts:
        d = hashlib.sha256(t.encode()).digest()
        out.append([b / 255 for b in d[:16]])
    return out


def last_observation(messages: Any) -> dict | None:
    """The JSON of the most recent tool result in the conversation, if any."""
    if isinstance(messages, str):
        messages = [{"content": messages}]
    for m in reversed(messages):
        text = m.get("content") if isinstance(m, dict) else str(m)
        if not isinstance(text, str):
            continue
        found = re.findall(r"\{\"ok\".*\}", text)
        if found:
            return json.loads(found[-1])
    return None


class CounterAgentLLM(BaseLLM):
    """Reads ``artifact``, waits at ``barrier`` (so every agent has read before anyone writes: the
    race, made deterministic), writes back the count + 1 and its name in the log. On a refusal it
    does what the tool result says: read again, re-derive, write again (no barrier the second time).
    """

    _barrier: Any = PrivateAttr(default=None)
    _artifact: str = PrivateAttr(default="tally")
    _role: str = PrivateAttr(default="")
    _phase: str = PrivateAttr(default="start")
    transcript: list = []

    def setup(self, role: str, artifact: str, barrier: threading.Barrier | None):
        self._role, self._artifact, self._barrier = role, artifact, barrier
        self.transcript = []
        return self

    def call(self, messages, tools=None, callbacks=None, available_functions=None,
             from_task=None, from_agent=None, response_model=None, **kw):
        obs = last_observation(messages) if self._phase != "start" else None
        self.transcript.append(obs)
        if self._phase in ("start", "reread"):
            self._phase = "read" if self._phase == "start" else "read2"
            return self._action("read_artifact", {"artifact_id": self._artifact})
        if self._phase in ("read", "read2"):
            if self._phase == "read" and self._barrier is not None:
                self._barrier.wait(timeout=20)
            value = obs["content"] if obs and obs.get("ok") else {"n": 0, "log": []}
            new = {"n": value["n"] + 1, "log": [*value["log"], self._role]}
            self._phase = "wrote"
            return self._action("write_artifact", {"artifact_id": self._artifact, "content": new})
        if self._phase == "wrote" and obs is not None and obs.get("ok") is False:
            self._phase = "reread"
            return self.call(messages)  # what the refusal said: read again
        self._phase = "done"
        return f"Thought: I know the final answer\nFinal Answer: {self._role} wrote {json.dumps(obs)}"

    @staticmethod
    def _action(tool: str, args: dict) -> str:
        return (f"Thought: use {tool}\nAction: {tool}\n"
                f"Action Input: {json.dumps(args)}")


class FinalLLM(BaseLLM):
    def call(self, messages, *args, **kw):
        return "Thought: I know the final answer\nFinal Answer: summary written"


# --- the baseline: what a CrewAI user writes today, a dict behind two tools ---------------------

class PlainRead(BaseTool):
    name: str = "read_artifact"
    description: str = "Read a shared artifact."
    args_schema: type[BaseModel] = ReadArgs
    _store: dict = PrivateAttr()

    def _run(self, artifact_id: str) -> str:
        if artifact_id not in self._store:
            return json.dumps({"ok": False, "code": "unknown_artifact"})
        return json.dumps({"ok": True, "content": self._store[artifact_id]})


class PlainWrite(BaseTool):
    name: str = "write_artifact"
    description: str = "Replace a shared artifact's content."
    args_schema: type[BaseModel] = WriteArgs
    _store: dict = PrivateAttr()

    def _run(self, artifact_id: str, content: Any) -> str:
        self._store[artifact_id] = content
        return json.dumps({"ok": True})


def plain_tools(store: dict) -> list[BaseTool]:
    r, w = PlainRead(), PlainWrite()
    r._store = w._store = store
    return [r, w]


def counter_crew(roles: list[str], tools_for, artifact: str = "tally") -> tuple[Crew, dict]:
    """One async task per role (they run concurrently), then a sync summary task. Each agent
    reads ``artifact``, thinks, writes back n + 1: CrewAI's native lost-update shape."""
    barrier = threading.Barrier(len(roles))
    llms, agents, tasks = {}, [], []
    for role in roles:
        llm = CounterAgentLLM(model="scripted").setup(role, artifact, barrier)
        agent = Agent(role=role, goal="count", backstory="counts", llm=llm,
                      tools=tools_for(role), allow_delegation=False, max_iter=8, verbose=False)
        llms[role] = llm
        agents.append(agent)
        tasks.append(Task(description=f"{role}: add one to {artifact}", expected_output="done",
                          agent=agent, async_execution=True))
    boss = Agent(role="summarizer", goal="sum up", backstory="b", llm=FinalLLM(model="scripted"),
                 allow_delegation=False, verbose=False)
    tasks.append(Task(description="summarize", expected_output="summary", agent=boss,
                      context=list(tasks)))
    crew = Crew(agents=[*agents, boss], tasks=tasks, process=Process.sequential, verbose=False)
    return crew, llms
