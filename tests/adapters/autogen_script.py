"""Scripted AutoGen models for the adapter tests: ``ReplayChatCompletionClient`` replaying tool
calls, so real ``AssistantAgent``s in a real team run offline and deterministically."""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

from autogen_core import FunctionCall
from autogen_core.models import CreateResult, ModelFamily, ModelInfo, RequestUsage
from autogen_ext.models.replay import ReplayChatCompletionClient

INFO = ModelInfo(vision=False, function_calling=True, json_output=False,
                 family=ModelFamily.UNKNOWN, structured_output=False)
_ids = itertools.count()
# the replay client warns on every non-text message it cannot count; nothing to act on here
logging.getLogger("autogen_core.events").setLevel(logging.ERROR)


def call(tool: str, **arguments: Any) -> CreateResult:
    """One model turn that calls ``tool`` with ``arguments``."""
    fc = FunctionCall(id=f"call{next(_ids)}", name=tool, arguments=json.dumps(arguments))
    return CreateResult(finish_reason="function_calls", content=[fc],
                        usage=RequestUsage(prompt_tokens=0, completion_tokens=0), cached=False)


def say(text: str) -> CreateResult:
    return CreateResult(finish_reason="stop", content=text,
                        usage=RequestUsage(prompt_tokens=0, completion_tokens=0), cached=False)


class ScriptedModel(ReplayChatCompletionClient):
    """A replay client whose turns may be policies: ``policy(results)`` gets the JSON results of
    the tool calls in the messages the agent sent (its own context, oldest first, each with
    ``tool``) and returns the turn. The model "reacts" to what its tools returned, offline."""

    async def create(self, messages: Any, **kwargs: Any) -> CreateResult:
        i = self._current_index
        if i < len(self.chat_completions) and callable(self.chat_completions[i]):
            self.chat_completions[i] = self.chat_completions[i](results_in(messages))
        return await super().create(messages, **kwargs)


def model(*turns: Any) -> ScriptedModel:
    return ScriptedModel(list(turns), model_info=INFO)


def results_in(messages: Any) -> list[dict[str, Any]]:
    from autogen_core.models import FunctionExecutionResultMessage

    out = []
    for m in messages:
        if isinstance(m, FunctionExecutionResultMessage):
            out.extend({"tool": r.name, **json.loads(r.content)} for r in m.content)
    return out


def read_then_write(line: str, artifact: str = "plan.md", *, recover: str = "reread"):
    """The lost-update shape as a model policy: read the artifact; on its next turn (others have
    run meanwhile) write back what it read plus ``line``. When a write comes back refused, either
    re-read and re-derive (``recover="reread"``) or append with ``update_artifact``
    (``recover="update"``); once a write landed, say done."""

    def policy(results: list[dict[str, Any]]) -> CreateResult:
        if not results:
            return call("read_artifact", artifact=artifact)
        last = results[-1]
        if last["tool"] == "read_artifact":
            return call("write_artifact", artifact=artifact, content=(last["content"] or "") + line)
        if not last["ok"]:
            if recover == "update":
                return call("update_artifact", artifact=artifact, operation="append", text=line)
            return call("read_artifact", artifact=artifact)
        return say("done")

    return policy


def tool_results(messages: Any, tool: str | None = None) -> list[dict[str, Any]]:
    """The JSON results of the tool calls in a team's messages, in order (each with ``agent``)."""
    from autogen_agentchat.messages import ToolCallExecutionEvent, ToolCallRequestEvent

    names: dict[str, str] = {}
    out = []
    for m in messages:
        if isinstance(m, ToolCallRequestEvent):
            names.update((c.id, c.name) for c in m.content)
        if isinstance(m, ToolCallExecutionEvent):
            for r in m.content:
                if tool is None or names.get(r.call_id) == tool:
                    out.append({"agent": m.source, "tool": names.get(r.call_id),
                                **json.loads(r.content)})
    return out
