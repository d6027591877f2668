"""When a cached copy must be revalidated. Strategies change freshness and cost, never safety:
every write is checked against the store whatever the strategy served.

=============  ==============================================================================
lazy           serve the cached copy until an invalidation arrives (default)
eager          like lazy, but refetch as soon as an invalidation arrives (content pushed early)
lease          like lazy, and also revalidate once the copy is ``ttl`` seconds old: bounds
               staleness even when invalidations are delayed or lost
access_count   like lazy, and also revalidate after ``max_reads`` cache hits
broadcast      no cache: every read fetches the full content (the no-coherence baseline)
=============  ==============================================================================

A revalidation that finds the version unchanged moves no content.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ccs.protocol.errors import InvalidStrategyParameter, UnknownStrategy


@dataclass(frozen=True)
class Strategy:
    name: str
    caches: bool = True
    refetch_on_invalidate: bool = False
    ttl: float | None = None
    max_reads: int | None = None

    def fresh(self, validated_at: float, hits: int, now: float) -> bool:
        """Whether a copy not invalidated so far may be served without asking the store."""
        if self.ttl is not None and now - validated_at >= self.ttl:
            return False
        return not (self.max_reads is not None and hits >= self.max_reads)


_PARAMS = {
    "lazy": set(),
    "eager": set(),
    "lease": {"ttl"},
    "access_count": {"max_reads"},
    "broadcast": set(),
}


def make_strategy(strategy: str | Strategy = "lazy", **params: Any) -> Strategy:
    if isinstance(strategy, Strategy):
        if params:
            raise InvalidStrategyParameter(
                f"parameters {sorted(params)} given with an already built strategy")
        return strategy
    if strategy not in _PARAMS:
        raise UnknownStrategy(f"unknown strategy {strategy!r}; known: {', '.join(_PARAMS)}",
                              strategy=strategy)
    extra = set(params) - _PARAMS[strategy]
    if extra:
        allowed = ", ".join(sorted(_PARAMS[strategy])) or "none"
        raise InvalidStrategyParameter(
            f"strategy {strategy!r} does not take {', '.join(sorted(extra))} (it takes: {allowed})",
            strategy=strategy)
    if strategy == "lease":
        ttl = params.get("ttl", 5.0)
        if not isinstance(ttl, int | float) or isinstance(ttl, bool) or not 0 < ttl < math.inf:
            raise InvalidStrategyParameter(f"lease ttl must be a positive number of seconds, got {ttl!r}")
        return Strategy("lease", ttl=float(ttl))
    if strategy == "access_count":
        n = params.get("max_reads", 4)
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise InvalidStrategyParameter(f"access_count max_reads must be an int >= 1, got {n!r}")
        return Strategy("access_count", max_reads=n)
    if strategy == "eager":
        return Strategy("eager", refetch_on_invalidate=True)
    if strategy == "broadcast":
        return Strategy("broadcast", caches=False)
    return Strategy("lazy")


STRATEGY_NAMES = tuple(_PARAMS)
