"""Token counting, context rendering and billing: what goes into a prompt, and what it costs."""

from ccs.tokens.agent import ContextAgent
from ccs.tokens.billing import PRESETS, Bill, CachePreset, Prompt, PromptCache, bill_sequence
from ccs.tokens.counter import (
    CharCounter,
    TiktokenCounter,
    TokenCounter,
    TokenizerUnavailable,
    default_counter,
)
from ccs.tokens.diffs import anchored_diff, apply_diff
from ccs.tokens.providers import counter_for
from ccs.tokens.render import KINDS, ContextRenderer, Held, Rendered, Templates, as_text, measure_signal
from ccs.tokens.stateless import PinBoard, RenderedContext

__all__ = [
    "KINDS", "PRESETS", "Bill", "CachePreset", "CharCounter", "ContextAgent", "ContextRenderer", "Held",
    "PinBoard", "Prompt", "PromptCache", "Rendered", "RenderedContext", "Templates", "TiktokenCounter",
    "TokenCounter", "TokenizerUnavailable", "anchored_diff", "apply_diff", "as_text", "bill_sequence",
    "counter_for", "default_counter", "measure_signal",
]
