"""What a provider bills for the input tokens of a sequence of prompts, under a prompt-cache model.

A prompt is a list of segments (token id lists; a segment is a content block: a message, or a
block inside one). The model keeps the prefixes providers cache and prices each call as

    billed = uncached * 1 + written * write_multiplier + read * read_multiplier

where ``read`` is the longest cached prefix of the call, ``written`` the tokens this call adds to
the cache, and ``uncached`` the rest. Presets follow the providers' public documentation:

* ``anthropic`` (explicit breakpoints, Anthropic "Prompt caching" guide): content up to a block
  marked with ``cache_control`` is written to the cache at 1.25x the base input price (5-minute
  lifetime) and read back at 0.1x; the lifetime is refreshed each time the entry is used; a
  prefix shorter than the model's minimum (1,024 tokens for Sonnet/Opus 4 and earlier) is not
  cached; a hit is looked up at earlier block boundaries too (the lookback), so a prefix written
  by another request matches at any block boundary of this one. Caches are per organization, so
  the fleet shares entries (``shared=True``).
* ``openai`` (automatic, OpenAI "Prompt caching" guide and cookbook): every prompt of 1,024 tokens
  or more is cached automatically at no extra cost; hits come in increments of 128 tokens
  (1,024, 1,152, ...) of an exact repeated prefix and are billed at a discount (0.5x on the
  GPT-4o generation); entries are cleared after 5-10 minutes of inactivity (modelled as 5).
  Caches are not shared between organizations, and are shared within one.
* ``no-cache``: every input token at the base price.

The model is deterministic and optimistic for the provider side it cannot see (routing can miss
an entry that exists; Anthropic's lookback is bounded to about 20 blocks before a breakpoint,
which the prompts billed here never approach); both the baseline and the library's prompts are
billed by the same model.

Sources: https://platform.claude.com/docs/en/build-with-claude/prompt-caching (breakpoints,
multipliers, minimums, lifetime, lookback); https://platform.openai.com/docs/guides/prompt-caching
and the OpenAI cookbook "Prompt Caching 201" (automatic caching from 1,024 tokens, 128-token
increments, inactivity expiry, no sharing across organizations).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ccs.protocol.errors import InvalidArgument


@dataclass(frozen=True)
class CachePreset:
    name: str
    mode: str  # "none" | "explicit" (breakpoints) | "automatic" (every prefix)
    min_tokens: int = 0
    increment: int = 1  # automatic mode: hits come in multiples of this above ``min_tokens``
    read_multiplier: float = 1.0
    write_multiplier: float = 1.0
    uncached_multiplier: float = 1.0
    ttl: float = 300.0  # seconds since the entry was last written or read
    shared: bool = True  # entries are shared by every agent (an organization-wide cache)

    @property
    def caches(self) -> bool:
        return self.mode != "none"


PRUNE_EVERY = 256  # bills between two sweeps of expired prefixes

PRESETS: dict[str, CachePreset] = {
    "no-cache": CachePreset("no-cache", "none"),
    "anthropic": CachePreset("anthropic", "explicit", min_tokens=1024, read_multiplier=0.1,
                             write_multiplier=1.25, ttl=300.0),
    "openai": CachePreset("openai", "automatic", min_tokens=1024, increment=128,
                          read_multiplier=0.5, write_multiplier=1.0, ttl=300.0),
}


def preset(name: str | CachePreset) -> CachePreset:
    if isinstance(name, CachePreset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise InvalidArgument(f"unknown cache preset {name!r}", argument="preset",
                              recover=f"use one of {sorted(PRESETS)} or a CachePreset") from None


@dataclass(frozen=True)
class Prompt:
    """One call's input: segments of token ids; ``breakpoints`` are indexes of segments that end
    with a cache breakpoint (explicit mode only)."""

    segments: tuple[tuple[int, ...], ...]
    breakpoints: frozenset[int] = frozenset()

    @classmethod
    def of(cls, segments: Sequence[Sequence[int]], breakpoints: Sequence[int] = ()) -> Prompt:
        return cls(tuple(tuple(s) for s in segments), frozenset(breakpoints))

    @property
    def tokens(self) -> int:
        return sum(len(s) for s in self.segments)


@dataclass(frozen=True)
class Bill:
    tokens: int
    uncached: int
    written: int
    read: int
    billed: float


@dataclass
class Ledger:
    calls: int = 0
    tokens: int = 0
    uncached: int = 0
    written: int = 0
    read: int = 0
    billed: float = 0.0
    per_call: list[float] = field(default_factory=list)

    def add(self, b: Bill) -> None:
        self.calls += 1
        self.tokens += b.tokens
        self.uncached += b.uncached
        self.written += b.written
        self.read += b.read
        self.billed += b.billed
        self.per_call.append(b.billed)


def _common(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    """Length of the common prefix of two token tuples (binary search on C-level slice compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class _Node:
    """A block boundary some earlier request reached: children by the next block's tokens."""

    __slots__ = ("children", "expiry", "marked")

    def __init__(self) -> None:
        self.children: dict[tuple[int, ...], _Node] = {}
        self.expiry = float("-inf")  # automatic mode: the prefix up to here is cached until then
        self.marked = float("-inf")  # explicit mode: a breakpoint entry ends here until then


class PromptCache:
    """The provider's cache for one organization (or one agent when the preset is not shared):
    a trie of the block sequences earlier requests sent, with entry lifetimes."""

    def __init__(self, preset_: str | CachePreset) -> None:
        self.preset = preset(preset_)
        self._roots: dict[str, _Node] = {}
        self._bills = 0
        self.ledgers: dict[str, Ledger] = {}

    def _hit(self, root: _Node, prompt: Prompt, now: float) -> tuple[int, list[tuple[_Node, int]]]:
        """(cached tokens, the matched path as (node, position at its end))."""
        p = self.preset
        path: list[tuple[_Node, int]] = []
        node, at, partial = root, 0, 0
        for seg in prompt.segments:
            child = node.children.get(seg)
            if child is None:
                best = 0
                for other, sub in node.children.items():
                    if p.mode == "explicit" or sub.expiry < now:
                        continue
                    best = max(best, _common(seg, other))
                partial = best
                break
            at += len(seg)
            node = child
            path.append((node, at))
        if p.mode == "explicit":
            hit = 0
            for n, pos in path:
                if n.marked >= now and pos >= p.min_tokens:
                    hit = pos
            return hit, path
        live = 0
        for n, pos in path:
            if n.expiry < now:
                partial = 0
                break
            live = pos
        reach = live + partial
        if reach < p.min_tokens:
            return 0, path
        return p.min_tokens + (reach - p.min_tokens) // p.increment * p.increment, path

    def quote(self, agent: str, prompt: Prompt, now: float) -> Bill:
        """What ``prompt`` would be billed now, without sending it (the cache is unchanged)."""
        return self._price(agent, prompt, now, commit=False)

    def bill(self, agent: str, prompt: Prompt, now: float) -> Bill:
        b = self._price(agent, prompt, now, commit=True)
        self.ledgers.setdefault(agent, Ledger()).add(b)
        self._bills += 1
        if self._bills % PRUNE_EVERY == 0:
            self.prune(now)
        return b

    def prune(self, now: float) -> int:
        """Drop the prefixes no live entry needs (a long-running fleet's cache stays bounded by
        what the provider would still hold); returns how many blocks were dropped."""
        def live(node: _Node) -> tuple[bool, int]:
            dropped = 0
            for seg, child in list(node.children.items()):
                keep, n = live(child)
                dropped += n
                if not keep:
                    del node.children[seg]
                    dropped += 1
            return bool(node.children) or node.expiry >= now or node.marked >= now, dropped

        return sum(live(root)[1] for root in self._roots.values())

    def _price(self, agent: str, prompt: Prompt, now: float, *, commit: bool) -> Bill:
        p = self.preset
        total = prompt.tokens
        if not p.caches:
            return Bill(total, total, 0, 0, total * p.uncached_multiplier)
        root = self._roots.setdefault("" if p.shared else agent, _Node())
        hit, path = self._hit(root, prompt, now)
        node: _Node | None = root
        at, written_to = 0, hit
        for i, seg in enumerate(prompt.segments):
            at += len(seg)
            if commit:
                assert node is not None
                node = node.children.setdefault(seg, _Node())
            else:
                node = path[i][0] if i < len(path) else None
            if p.mode == "automatic":
                if commit:
                    node.expiry = now + p.ttl
                if at >= p.min_tokens:
                    written_to = max(written_to, at)
            elif at <= hit and node is not None and node.marked >= now:
                if commit:
                    node.marked = now + p.ttl  # a use refreshes the entry's lifetime
            elif i in prompt.breakpoints and at >= p.min_tokens:
                if commit:
                    node.marked = now + p.ttl
                written_to = max(written_to, at)
        written = written_to - hit
        uncached = total - hit - written
        billed = uncached * p.uncached_multiplier + written * p.write_multiplier + hit * p.read_multiplier
        return Bill(total, uncached, written, hit, billed)

    def total(self) -> Ledger:
        out = Ledger()
        for led in self.ledgers.values():
            out.calls += led.calls
            out.tokens += led.tokens
            out.uncached += led.uncached
            out.written += led.written
            out.read += led.read
            out.billed += led.billed
        return out


def bill_sequence(calls: Sequence[tuple[str, Prompt, float]], preset_: str | CachePreset) -> PromptCache:
    """Bill ``(agent, prompt, time)`` calls in order (times in seconds, non-decreasing)."""
    cache = PromptCache(preset_)
    for agent, prompt, now in calls:
        cache.bill(agent, prompt, now)
    return cache
