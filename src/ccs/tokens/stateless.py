"""Stateless rendering: a prompt rebuilt every turn that a provider's prompt cache can bill cheaply.

Layout of every prompt the fleet sends::

    [pinned snapshot of the shared artifacts]  <- byte-identical across turns and agents (breakpoint)
    [the agent's role]                          <- stable per agent (breakpoint)
    [changes since the pin, as diffs anchored on the pin; one line per other changed artifact]
    [the turn]

The snapshot is one cache write shared by the fleet (provider caches are per organization); each
later turn reads it at the cache-read price. Changes are diffs against the pin, never a chain, so
a turn carries at most one diff per artifact; an unchanged artifact costs nothing after the pin
(no reference lines), a changed one the agent does not read costs one line. The board re-pins
when the diffs outgrow ``repin_fraction`` of the snapshot or the cache entry would have expired
(a write is due anyway), and orders the snapshot by stability (least recently changed first) so
automatic prefix caches keep the longest prefix across a re-pin.

Which form is sent is decided on the bill: the board prices both forms every turn on two models
of the provider's cache (:mod:`ccs.tokens.billing`), one as if the fleet had always sent the
stateless form, one as if it had always sent the plain prompt (role, the artifacts read in full,
the turn: what an agent does without the library), and switches to the form that has been
cheaper lately once the gain pays for the cache writes the switch costs. Without a prompt cache,
or with a snapshot under the provider's minimum cacheable length, it sends the plain prompt: never
more tokens than not using the library. With a cache the choice is an online estimate, not a
guarantee (tests/test_tokens_stateless.py bounds its worst case).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ccs.tokens.billing import CachePreset, Prompt, PromptCache, preset
from ccs.tokens.counter import TokenCounter, default_counter
from ccs.tokens.diffs import anchored_diff
from ccs.tokens.render import as_text, label_of

SNAPSHOT = '<shared-snapshot id="{pin}">\n{body}\n</shared-snapshot>'
ARTIFACT = '<artifact id="{id}" version="{label}">\n{text}\n</artifact>'
DIFF = '<artifact-diff id="{id}" from="{old}" to="{label}">\n{diff}\n</artifact-diff>'
AVERAGE_TURNS = 20  # the steady cost per turn of each form averages about the last 20 turns
HORIZON_ROUNDS = 3  # a switch must pay for itself within about three rounds of the fleet
STALE = "[{id}: the snapshot's {old} is outdated (now {label}); read it before relying on it]"
CHANGES = "Changes since snapshot {pin}:\n{body}"


@dataclass(frozen=True)
class Block:
    kind: str  # "snapshot" | "role" | "changes" | "artifacts" | "turn"
    text: str
    breakpoint: bool = False


@dataclass(frozen=True)
class RenderedContext:
    """One prompt: blocks in order (``breakpoint`` marks where a cache breakpoint goes)."""

    mode: str  # "stateless" or "plain"
    blocks: tuple[Block, ...]
    pin: str | None
    repinned: bool
    counter: str

    @property
    def text(self) -> str:
        return "\n\n".join(b.text for b in self.blocks if b.text)

    def anthropic_blocks(self) -> list[dict[str, Any]]:
        """Content blocks for the Anthropic Messages API, ``cache_control`` on breakpoints."""
        out = []
        for b in self.blocks:
            if not b.text:
                continue
            block: dict[str, Any] = {"type": "text", "text": b.text}
            if b.breakpoint:
                block["cache_control"] = {"type": "ephemeral"}
            out.append(block)
        return out


@dataclass
class _Pin:
    name: str
    artifacts: dict[str, tuple[str, str]]  # id -> (label, text), in snapshot order
    text: str
    tokens: int
    last_used: float


class PinBoard:
    """The pin a fleet shares (one per store or core, per preset): every agent's prompt starts with
    the same snapshot bytes. Thread-safe: agents of one process render concurrently."""

    def __init__(self, counter: TokenCounter | None = None, cache: str | CachePreset = "anthropic", *,
                 repin_fraction: float = 0.3, context_lines: int = 1, adaptive: bool = True) -> None:
        self.counter = counter or default_counter()
        self.preset = preset(cache)
        self.repin_fraction = repin_fraction
        self.context_lines = context_lines
        self.pin: _Pin | None = None
        self.pins = 0
        self._changed_at: dict[str, float] = {}
        self._digests: dict[str, str] = {}
        self._seen: dict[str, int] = {}
        self._agents: set[str] = set()
        self._warm: set[str] = set()
        self._last_changes: dict[str, str] = {}
        # the board's model of the provider's cache, fed with what it rendered (None: a counter
        # without ``encode``, so prompts cannot be priced and the stateless form is always used)
        self._models = (PromptCache(self.preset), PromptCache(self.preset), PromptCache(self.preset)) \
            if adaptive and hasattr(self.counter, "encode") else None
        self._score = (0.0, 0.0, 0)  # steady billed cost per turn: stateless form, plain form, samples
        self._stateless = False  # start as the plain prompt would: switch once the shadow shows a gain
        self._shared: dict[str, None] = {}
        self._lock = threading.Lock()

    def share(self, ids: Iterable[str]) -> None:
        """Artifacts every pin carries even before an agent reads them (the fleet's shared set):
        the first pin then covers every agent's reads instead of growing turn by turn."""
        with self._lock:
            self._shared.update(dict.fromkeys(ids))

    def render(self, ids: Iterable[str], fetch: Callable[[str], tuple[Any, int | None]], *,
               role: str = "", turn: str = "", now: float | None = None,
               agent: str = "") -> RenderedContext:
        """The prompt for one turn of an agent that reads ``ids``; ``fetch(id) -> (value,
        version)`` serves the current value (an agent's coherent read), ``now`` is the time in
        seconds that cache lifetimes run on (default: the monotonic clock)."""
        ids = list(dict.fromkeys(ids))
        with self._lock:
            now = time.monotonic() if now is None else float(now)
            self._agents.add(agent)
            wanted = list(dict.fromkeys([*self._shared, *(self.pin.artifacts if self.pin else ()), *ids]))
            current = {aid: self._current(aid, *fetch(aid), now) for aid in wanted}
            plain = self._plain(ids, current, role, turn)
            if not self.preset.caches:
                return plain
            repinned = False
            changes = None if self._must_repin(ids, now) else self._changes(ids, current)
            if changes is None:
                self._repin(current, now)
                changes, repinned = [], True
            pin = self.pin
            assert pin is not None
            body = CHANGES.format(pin=pin.name, body="\n".join(changes)) if changes else ""
            blocks = (Block("snapshot", pin.text, True), Block("role", role, bool(role)),
                      Block("changes", body, self._stable(agent, body)), Block("turn", turn))
            pin.last_used = now
            stateless = RenderedContext("stateless", blocks, pin.name, repinned, self.counter.name)
            if pin.tokens < self.preset.min_tokens:
                return plain
            return stateless if self._choose(stateless, plain, agent, now) else plain

    def _stable(self, agent: str, body: str) -> bool:
        """Cache the changes block only once it repeats for this agent: a block that changes every
        turn would pay the cache-write surcharge for nothing."""
        last, self._last_changes[agent] = self._last_changes.get(agent), body
        return bool(body) and body == last

    def _current(self, aid: str, value: Any, version: int | None, now: float) -> tuple[str, str]:
        """(label, text); without a store version the label counts the versions this board saw."""
        text = as_text(value)
        digest = label_of(text, None)
        if self._digests.get(aid) != digest:
            self._digests[aid] = digest
            self._seen[aid] = self._seen.get(aid, 0) + 1
            self._changed_at[aid] = now
        return (f"v{version}" if version is not None else f"v{self._seen[aid]}"), text

    def _prompt(self, ctx: RenderedContext) -> Prompt:
        blocks = [b for b in ctx.blocks if b.text]
        return Prompt.of([self.counter.encode(b.text) for b in blocks],  # type: ignore[attr-defined]
                         [i for i, b in enumerate(blocks) if b.breakpoint])

    def _choose(self, stateless: RenderedContext, plain: RenderedContext, agent: str, now: float) -> bool:
        """Send the stateless form? The board bills both forms every turn on two models of the
        provider's cache, one as if the fleet always sent stateless prompts and one as if it always
        sent plain ones (the cost of not using the library), and keeps an average of each form's
        steady cost per turn (an agent's first turn, a cold write in either form, is left out).
        It switches form only when the steady gain over the next few rounds pays for the switch:
        the cache writes the other form needs now, priced on a third model, of what was sent.
        Without token ids it always sends the stateless form."""
        if self._models is None:
            return True
        shadow_s, shadow_p, sent = self._models
        prompt_s, prompt_p = self._prompt(stateless), self._prompt(plain)
        cost_s = shadow_s.bill(agent, prompt_s, now).billed
        cost_p = shadow_p.bill(agent, prompt_p, now).billed
        avg_s, avg_p, n = self._score
        if n >= max(2, len(self._agents)) and agent in self._warm:
            horizon = HORIZON_ROUNDS * max(1, len(self._agents))
            if self._stateless:
                switch = max(0.0, sent.quote(agent, prompt_p, now).billed - avg_p) * len(self._agents)
                if (avg_s - avg_p) * horizon > switch:
                    self._stateless = False
            else:
                switch = max(0.0, sent.quote(agent, prompt_s, now).billed - avg_s)
                if (avg_p - avg_s) * horizon > switch:
                    self._stateless = True
        if agent in self._warm:
            w = 1.0 / min(n + 1, AVERAGE_TURNS)
            self._score = (avg_s + w * (cost_s - avg_s), avg_p + w * (cost_p - avg_p), n + 1)
        self._warm.add(agent)
        sent.bill(agent, prompt_s if self._stateless else prompt_p, now)
        return self._stateless

    def _plain(self, ids: list[str], current: dict[str, tuple[str, str]], role: str,
               turn: str) -> RenderedContext:
        body = "\n\n".join(ARTIFACT.format(id=a, label=current[a][0], text=current[a][1]) for a in ids)
        blocks = (Block("role", role), Block("artifacts", body, self.preset.caches), Block("turn", turn))
        return RenderedContext("plain", blocks, None, False, self.counter.name)

    def _must_repin(self, ids: list[str], now: float) -> bool:
        pin = self.pin
        return pin is None or any(a not in pin.artifacts for a in ids) or \
            now - pin.last_used > self.preset.ttl

    def _changes(self, ids: list[str], current: dict[str, tuple[str, str]]) -> list[str] | None:
        """The change lines, or None when they outgrew the snapshot's re-pin budget or an artifact
        was rewritten beyond what a diff can carry more cheaply than the text."""
        pin = self.pin
        assert pin is not None
        lines, tokens = [], 0
        budget = self.repin_fraction * pin.tokens
        for aid, (old, base) in pin.artifacts.items():
            label, text = current[aid]
            if label == old:
                continue
            if aid in ids:
                diff = DIFF.format(id=aid, old=old, label=label,
                                   diff=anchored_diff(base, text, self.context_lines))
                full = ARTIFACT.format(id=aid, label=label, text=text)
                if self.counter.count(diff) >= self.counter.count(full):
                    return None  # rewritten: the pinned copy no longer helps, pin the new text
                line = diff
            else:
                line = STALE.format(id=aid, old=old, label=label)
            tokens += self.counter.count(line)
            if tokens > budget:
                return None
            lines.append(line)
        return lines

    def _repin(self, current: dict[str, tuple[str, str]], now: float) -> None:
        order = sorted(current, key=lambda a: (self._changed_at.get(a, 0.0), a))
        self.pins += 1
        name = f"pin-{self.pins}"
        arts = {a: current[a] for a in order}
        body = "\n\n".join(ARTIFACT.format(id=a, label=lab, text=t) for a, (lab, t) in arts.items())
        text = SNAPSHOT.format(pin=name, body=body)
        self.pin = _Pin(name, arts, text, self.counter.count(text), now)


_BOARDS: weakref.WeakKeyDictionary[Any, dict[str, PinBoard]] = weakref.WeakKeyDictionary()
_BOARDS_LOCK = threading.Lock()


def board_for(owner: Any, cache: str | CachePreset = "anthropic",
              counter: TokenCounter | None = None) -> PinBoard:
    """The fleet's board for ``owner`` (a core or a store: whatever its agents share) and preset."""
    p = preset(cache)
    with _BOARDS_LOCK:
        boards = _BOARDS.setdefault(owner, {})
        board = boards.get(p.name)
        if board is None:
            board = boards[p.name] = PinBoard(counter, p)
        return board


def render_for_agent(agent: Any, ids: Iterable[str], *, role: str = "", turn: str = "",
                     mode: str = "stateless", preset: str | CachePreset = "anthropic",
                     shared: Iterable[str] = (), now: float | None = None,
                     counter: TokenCounter | None = None) -> RenderedContext:
    """``agent.render_context(...)``: the board is shared by every agent of the agent's core."""
    def fetch(aid: str) -> tuple[Any, int | None]:
        snap = agent.snapshot(aid, None)
        return snap.value, snap.version

    cache = "no-cache" if mode == "plain" else preset
    check_mode(mode)
    board = board_for(agent.core, cache, counter)
    board.share(shared)
    if now is None:
        now = agent.core.clock.now()  # the core's clock: a simulation's manual clock stays in charge
    return board.render(ids, fetch, role=role, turn=turn, now=now, agent=agent.name)


def check_mode(mode: str) -> None:
    if mode not in ("stateless", "plain"):
        from ccs.protocol.errors import InvalidArgument

        raise InvalidArgument(f"unknown rendering mode {mode!r}", argument="mode",
                              recover="use mode='stateless' (or 'plain' for the full artifacts)")


def values_fetch(values: Mapping[str, Any]) -> Callable[[str], tuple[Any, int | None]]:
    """A ``fetch`` over a plain mapping (no versions: labels are content digests)."""
    return lambda aid: (values[aid], None)


def render_for_store(store: Any, namespace: tuple[str, ...], keys: Iterable[str], *, field: str | None,
                     role: str = "", turn: str = "", mode: str = "stateless",
                     preset: str | CachePreset = "anthropic", shared: Iterable[str] = (),
                     now: float | None = None, counter: TokenCounter | None = None,
                     agent: str | None = None) -> RenderedContext:
    """``store.render_context(...)`` for any LangGraph ``BaseStore`` (``CCSStore`` reads are the
    node's coherent reads); ``field`` picks one key of each item's value (default: the whole
    value as JSON). The board is shared by every handle on the same root store."""
    def fetch(key: str) -> tuple[Any, int | None]:
        item = store.get(namespace, key)
        if item is None:
            from ccs.protocol.errors import UnknownArtifact

            raise UnknownArtifact(f"no item {key!r} in namespace {namespace!r}", artifact=key,
                                  recover="put the item before rendering it into a prompt")
        return (item.value.get(field, "") if field else item.value), None

    check_mode(mode)
    board = board_for(getattr(store, "_root", store), "no-cache" if mode == "plain" else preset, counter)
    board.share(shared)
    return board.render(keys, fetch, role=role, turn=turn, now=now,
                        agent=agent or getattr(store, "_bound", None) or "")
