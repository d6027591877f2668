"""A scripted ``agents.models.interface.Model``: run real agents offline, no API key.

>>> def policy(turn):                       # called once per model call
...     if turn.n == 1:
...         return call("read_artifact", artifact_id="plan.md")
...     return say("done")
>>> Agent(name="planner", model=ScriptedModel(policy), tools=shared.tools())

``policy(turn)`` returns one output item or a list (``call`` / ``say`` build them), and may be
async (to wait for a peer, say). ``turn.items`` is exactly what the SDK sent the model.
"""

from __future__ import annotations

import inspect
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.items import ModelResponse
from agents.models.interface import Model
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)

_ids = itertools.count(1)


def call(tool: str, **arguments: Any) -> ResponseFunctionToolCall:
    """A function tool call, as a model would return it."""
    n = next(_ids)
    return ResponseFunctionToolCall(type="function_call", call_id=f"call_{n}", id=f"fc_{n}",
                                    name=tool, arguments=json.dumps(arguments), status="completed")


def say(text: str) -> ResponseOutputMessage:
    """A final assistant message."""
    return ResponseOutputMessage(
        id=f"msg_{next(_ids)}", type="message", role="assistant", status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])])


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


@dataclass
class Turn:
    """One model call: what was sent, and which call of this model it is (1-based)."""

    items: list[Any]
    n: int
    instructions: str | None = None

    def results(self) -> list[Any]:
        """Outputs of the tool calls in the input, oldest first (JSON decoded when possible)."""
        out = []
        for item in self.items:
            if _get(item, "type") == "function_call_output":
                text = _get(item, "output")
                try:
                    out.append(json.loads(text))
                except (TypeError, ValueError):
                    out.append(text)
        return out

    def last(self) -> Any:
        """The output of the most recent tool call (None if there is none)."""
        results = self.results()
        return results[-1] if results else None

    def notes(self) -> list[str]:
        """Text of the plain messages in the input (user input, injected notes)."""
        return [c for item in self.items if isinstance(c := _get(item, "content"), str)]


class ScriptedModel(Model):
    def __init__(self, policy: Callable[[Turn], Any]) -> None:
        self.policy = policy
        self.turns: list[Turn] = []

    async def get_response(self, system_instructions: str | None, input: Any, model_settings: Any,
                           tools: Any, output_schema: Any, handoffs: Any, tracing: Any, *,
                           previous_response_id: str | None = None,
                           conversation_id: str | None = None, prompt: Any = None) -> ModelResponse:
        items = list(input) if isinstance(input, list) else [{"role": "user", "content": input}]
        turn = Turn(items, len(self.turns) + 1, system_instructions)
        self.turns.append(turn)
        out = self.policy(turn)
        if inspect.isawaitable(out):
            out = await out
        return ModelResponse(output=out if isinstance(out, list) else [out], usage=Usage(),
                             response_id=None)

    async def stream_response(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ScriptedModel does not stream; use Runner.run")
        yield  # an async generator, as the interface declares
