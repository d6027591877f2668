"""Token counting and context rendering: what actually goes into a prompt."""

from ccs.tokens.agent import ContextAgent
from ccs.tokens.counter import (
    CharCounter,
    TiktokenCounter,
    TokenCounter,
    TokenizerUnavailable,
    default_counter,
)
from ccs.tokens.render import KINDS, ContextRenderer, Held, Rendered, Templates, as_text, measure_signal

__all__ = [
    "KINDS", "CharCounter", "ContextAgent", "ContextRenderer", "Held", "Rendered", "Templates",
    "TiktokenCounter", "TokenCounter", "TokenizerUnavailable", "as_text", "default_counter",
    "measure_signal",
]
