"""What one simulated run measured, and the baselines computed from the same run's history."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ccs.tokens.render import KINDS, ContextRenderer, Held


@dataclass
class RunMetrics:
    scenario: str
    strategy: str
    tokens: Counter[str] = field(default_factory=Counter)  # by rendering kind
    renders: Counter[str] = field(default_factory=Counter)
    baseline_rebroadcast: int = 0  # every agent gets every artifact every tick
    baseline_fetch: int = 0  # every read re-sends the full current artifact
    optimum: int = 0  # each agent pays once per version it reads (cheapest form), plus signals
    optimum_signals: int = 0
    history: int = 0  # conversation tokens re-sent by later turns (what a chat agent also pays)
    reads: int = 0
    stale_reads: int = 0
    stale_versions: int = 0
    max_staleness: int = 0
    commits: int = 0
    conflicts: Counter[str] = field(default_factory=Counter)
    abandoned_writes: int = 0
    lost_updates: int = 0
    zombie_writes_refused: int = 0
    zombie_writes_landed: int = 0
    store_fetches: int = 0
    cache_hits: int = 0
    bytes_fetched: int = 0
    messages: dict[str, int] = field(default_factory=dict)
    adaptive_choices: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.tokens[k] for k in KINDS)

    @staticmethod
    def savings(cost: int, baseline: int) -> float:
        return 0.0 if baseline <= 0 else 1.0 - cost / baseline

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario, "strategy": self.strategy,
            "tokens": {k: self.tokens[k] for k in KINDS}, "renders": {k: self.renders[k] for k in KINDS},
            "total_tokens": self.total,
            "baselines": {"rebroadcast": self.baseline_rebroadcast, "fetch_every_read": self.baseline_fetch,
                          "offline_optimum": self.optimum, "optimum_signal_tokens": self.optimum_signals},
            "savings_vs_fetch": round(self.savings(self.total, self.baseline_fetch), 4),
            "savings_vs_rebroadcast": round(self.savings(self.total, self.baseline_rebroadcast), 4),
            "optimum_savings_vs_fetch": round(self.savings(self.optimum, self.baseline_fetch), 4),
            "history_tokens": self.history,
            "savings_vs_fetch_with_history": round(self.savings(self.total + self.history,
                                                                self.baseline_fetch), 4),
            "overhead_per_read": round((self.total - self.optimum) / self.reads, 2) if self.reads else 0.0,
            "over_optimum": round(self.total / self.optimum - 1, 4) if self.optimum else None,
            "reads": self.reads, "stale_reads": self.stale_reads,
            "stale_fraction": round(self.stale_reads / self.reads, 4) if self.reads else 0.0,
            "mean_staleness_when_stale": round(self.stale_versions / self.stale_reads, 3)
            if self.stale_reads else 0.0,
            "max_staleness": self.max_staleness, "commits": self.commits,
            "conflicts": sum(self.conflicts.values()), "conflicts_by_code": dict(self.conflicts),
            "abandoned_writes": self.abandoned_writes, "lost_updates": self.lost_updates,
            "zombie_writes_refused": self.zombie_writes_refused,
            "zombie_writes_landed": self.zombie_writes_landed,
            "store_fetches": self.store_fetches, "cache_hits": self.cache_hits,
            "bytes_fetched": self.bytes_fetched, "messages": self.messages,
            "adaptive_choices": self.adaptive_choices,
        }


class Truth:
    """Every committed version's text, and the token prices computed from it (memoized)."""

    def __init__(self, renderer: ContextRenderer) -> None:
        self.renderer = renderer
        self.texts: dict[tuple[str, int], str] = {}
        self.current: dict[str, int] = {}
        self._content: dict[tuple[str, int], int] = {}

    def commit(self, artifact: str, version: int, text: str) -> None:
        self.texts[artifact, version] = text
        self.current[artifact] = max(version, self.current.get(artifact, 0))

    def content_tokens(self, artifact: str, version: int) -> int:
        key = (artifact, version)
        n = self._content.get(key)
        if n is None:
            n = self.renderer.content(artifact, self.texts[key], f"v{version}").tokens
            self._content[key] = n
        return n


class OptimumTracker:
    """The offline optimum, replayed on ground truth: a read of the version the conversation
    holds is free, a new version costs the cheaper of diff and content, and each held artifact
    that changed gets one coalesced signal in a turn that does not read it."""

    def __init__(self, truth: Truth, renderer: ContextRenderer) -> None:
        self.truth = truth
        self.renderer = renderer
        self.held: dict[str, dict[str, tuple[int, Held]]] = {}
        self.signalled: dict[str, set[str]] = {}
        self.tokens = 0
        self.signal_tokens = 0

    def turn(self, agent: str, reading: set[str]) -> None:
        signalled = self.signalled.setdefault(agent, set())
        for aid, (version, held) in self.held.get(agent, {}).items():
            if aid in reading or aid in signalled or self.truth.current[aid] <= version:
                continue
            signalled.add(aid)
            n = self.renderer.price_signal(aid, held.label).tokens
            self.tokens += n
            self.signal_tokens += n

    def read(self, agent: str, artifact: str) -> None:
        version = self.truth.current[artifact]
        mine = self.held.setdefault(agent, {})
        have = mine.get(artifact)
        self.signalled.setdefault(agent, set()).discard(artifact)
        if have is not None and have[0] == version:
            return
        text = self.truth.texts[artifact, version]
        r = self.renderer.price(artifact, text, f"v{version}", None if have is None else have[1])
        self.tokens += r.tokens
        mine[artifact] = (version, Held(f"v{version}", text))

    def wrote(self, agent: str, artifact: str, version: int) -> None:
        text = self.truth.texts[artifact, version]
        self.held.setdefault(agent, {})[artifact] = (version, Held(f"v{version}", text))
        self.signalled.setdefault(agent, set()).discard(artifact)

    def reset(self, agent: str) -> None:
        self.held.pop(agent, None)
        self.signalled.pop(agent, None)
