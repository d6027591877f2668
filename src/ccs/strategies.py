"""``ccs.strategies``: the seed package's import path for the synchronization strategies. A thin
re-export of ``ccs.client.strategies``. See docs/seed-compatibility.md."""

from ccs.client.strategies import STRATEGY_NAMES, Strategy, make_strategy

__all__ = ["STRATEGY_NAMES", "Strategy", "make_strategy"]
