"""A fake chat model that records every prompt it receives, and token counts on those prompts.

``RecordingChatModel`` is langchain-core's ``FakeListChatModel`` (offline, scripted replies)
that keeps a copy of each message list it was invoked with, so that token figures are counted on
what a model would actually have received, not estimated from cache statistics.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage
from pydantic import Field

from ccs.tokens.counter import TokenCounter


class RecordingChatModel(FakeListChatModel):
    """Replies with ``reply_next`` when set (else cycles ``responses``); records every prompt."""

    prompts: list[list[BaseMessage]] = Field(default_factory=list)
    reply_next: str | None = None

    def _call(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> str:
        self.prompts.append([m.model_copy() for m in messages])
        if self.reply_next is not None:
            reply, self.reply_next = self.reply_next, None
            return reply
        return super()._call(messages, *args, **kwargs)


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


def prompt_tokens(prompts: list[list[BaseMessage]], counter: TokenCounter) -> dict[str, int]:
    """Token counts over one agent's recorded prompts, in order.

    ``total`` counts every message of every prompt (history re-sent each call is counted again);
    ``new`` counts only what a prompt adds to the previous one's messages plus the reply
    (the part a provider with prefix caching has not seen). Message contents only: the few
    tokens of per-message framing a provider adds are the same in every variant and left out.
    """
    total = new = 0
    previous: list[str] = []
    for prompt in prompts:
        texts = [_text(m) for m in prompt]
        counts = [counter.count(t) for t in texts]
        total += sum(counts)
        shared = 0
        while shared < min(len(previous), len(texts)) and previous[shared] == texts[shared]:
            shared += 1
        new += sum(counts[shared:])
        previous = texts
    return {"calls": len(prompts), "total": total, "new": new}
