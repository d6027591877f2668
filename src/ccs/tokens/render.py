"""What an artifact read puts into an agent's prompt, given what its conversation already holds.

* first read (or the conversation no longer holds it) -> the full content;
* re-read of the version the conversation holds -> a one-line reference;
* re-read of a changed artifact -> a unified diff against the held version when the diff costs
  fewer tokens than the content, else the full content;
* an invalidation -> a one-line signal (its cost is counted, not assumed).

Every rendering carries its token count from a real tokenizer, so a ledger of renderings is a
ledger of prompt tokens.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ccs.tokens.counter import TokenCounter, default_counter

KINDS = ("content", "reference", "diff", "signal")


@dataclass(frozen=True, slots=True)
class Rendered:
    kind: str  # one of KINDS
    artifact: str
    label: str  # "v3", or a short content digest when the caller knows no version
    text: str
    tokens: int


@dataclass(frozen=True, slots=True)
class Held:
    """The version of an artifact a conversation holds, and its text."""

    label: str
    text: str


@dataclass(frozen=True)
class Templates:
    content: str = '<artifact id="{id}" version="{label}">\n{text}\n</artifact>'
    reference: str = "[{id} {label} unchanged]"
    diff: str = '<artifact-diff id="{id}" from="{old}" to="{label}">\n{diff}\n</artifact-diff>'
    signal: str = "[{id} changed since your {old}{now}; re-read before relying on it]"


def as_text(value: Any) -> str:
    """The text a prompt would carry for a stored value."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False, default=str)


def label_of(text: str, version: int | None) -> str:
    if version is not None:
        return f"v{version}"
    return "#" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def unified_diff(artifact: str, old: Held, new_text: str, new_label: str, context: int) -> str:
    lines = difflib.unified_diff(old.text.splitlines(), new_text.splitlines(),
                                 f"{artifact}@{old.label}", f"{artifact}@{new_label}",
                                 n=context, lineterm="")
    # the wrapper names both versions: the ---/+++ header lines would only repeat that
    return "\n".join(line for i, line in enumerate(lines) if i >= 2)


class ContextRenderer:
    """Renders one agent's reads against what its conversation holds, and keeps a token ledger.

    ``diffs=False`` turns diff rendering off (a changed artifact is re-sent whole), which is what
    the benchmarks compare against to show what diffs add.
    """

    def __init__(self, counter: TokenCounter | None = None, *, diffs: bool = True,
                 context_lines: int = 1, templates: Templates | None = None) -> None:
        self.counter = counter or default_counter()
        self.diffs = diffs
        self.context_lines = context_lines
        self.templates = templates or Templates()
        self.held: dict[str, Held] = {}
        self.tokens: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()

    # --- pricing (pure) --------------------------------------------------------------------------

    def _make(self, kind: str, artifact: str, label: str, text: str) -> Rendered:
        return Rendered(kind, artifact, label, text, self.counter.count(text))

    def content(self, artifact: str, text: str, label: str) -> Rendered:
        return self._make("content", artifact, label,
                          self.templates.content.format(id=artifact, label=label, text=text))

    def price(self, artifact: str, text: str, label: str, held: Held | None) -> Rendered:
        """The rendering of ``text`` (at ``label``) for a conversation holding ``held``."""
        if held is None:
            return self.content(artifact, text, label)
        if held.text == text:
            return self._make("reference", artifact, held.label,
                              self.templates.reference.format(id=artifact, label=held.label))
        full = self.content(artifact, text, label)
        if not self.diffs:
            return full
        body = unified_diff(artifact, held, text, label, self.context_lines)
        diff = self._make("diff", artifact, label, self.templates.diff.format(
            id=artifact, old=held.label, label=label, diff=body))
        return diff if diff.tokens < full.tokens else full

    def price_signal(self, artifact: str, old_label: str, new_version: int | None = None,
                     by: str | None = None) -> Rendered:
        now = ""
        if new_version is not None:
            now = f" (now v{new_version}" + (f" by {by})" if by else ")")
        text = self.templates.signal.format(id=artifact, old=old_label, now=now)
        return self._make("signal", artifact, old_label, text)

    # --- rendering (updates what the conversation holds, and the ledger) ---------------------------

    def read(self, artifact: str, value: Any, version: int | None = None) -> Rendered:
        text = as_text(value)
        label = label_of(text, version)
        r = self.price(artifact, text, label, self.held.get(artifact))
        if r.kind != "reference":
            self.held[artifact] = Held(label, text)
        return self._book(r)

    def note(self, artifact: str, value: Any, version: int | None = None) -> None:
        """The conversation holds ``value`` without it being sent as a read (the agent wrote it:
        the text is its own output, already in the conversation). Costs nothing here."""
        text = as_text(value)
        self.held[artifact] = Held(label_of(text, version), text)

    def signal(self, artifact: str, new_version: int | None = None, by: str | None = None) -> Rendered:
        held = self.held.get(artifact)
        return self._book(self.price_signal(artifact, held.label if held else "copy",
                                            new_version, by))

    def _book(self, r: Rendered) -> Rendered:
        self.tokens[r.kind] += r.tokens
        self.counts[r.kind] += 1
        return r

    def forget(self, artifact: str | None = None) -> None:
        """The conversation dropped ``artifact`` (or everything: a new conversation)."""
        if artifact is None:
            self.held.clear()
        else:
            self.held.pop(artifact, None)

    @property
    def total(self) -> int:
        return sum(self.tokens.values())

    def ledger(self) -> dict[str, dict[str, int]]:
        return {k: {"tokens": self.tokens[k], "count": self.counts[k]} for k in KINDS}


@dataclass
class SignalCost:
    """A measured signal: the text and its token count under a counter."""

    text: str
    tokens: int
    counter: str = field(default="")


def measure_signal(counter: TokenCounter | None = None, artifact: str = "plan.md",
                   old: int = 3, new: int | None = None, by: str | None = None) -> SignalCost:
    """The signal as the renderer emits it for an invalidated copy (``new``/``by`` add the new
    version and its author, as an eager refetch knows them)."""
    r = ContextRenderer(counter)
    sig = r.price_signal(artifact, f"v{old}", new, by)
    return SignalCost(sig.text, sig.tokens, r.counter.name)
