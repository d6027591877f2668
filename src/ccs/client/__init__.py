from typing import TYPE_CHECKING

from ccs._lazy import lazy

_MEMBERS = {
    "Agent": "ccs.client.agent", "AgentStats": "ccs.client.agent", "Versioned": "ccs.client.agent",
    "CoherenceAdapterCore": "ccs.client.core", "STRATEGY_NAMES": "ccs.client.strategies",
    "Strategy": "ccs.client.strategies", "make_strategy": "ccs.client.strategies",
    "Transaction": "ccs.client.transaction",
}
__all__ = ["STRATEGY_NAMES", "Agent", "AgentStats", "CoherenceAdapterCore", "Strategy",
           "Transaction", "Versioned", "make_strategy"]
assert set(__all__) == set(_MEMBERS)
__getattr__, __dir__ = lazy(globals(), _MEMBERS)

if TYPE_CHECKING:
    from ccs.client.agent import Agent, AgentStats, Versioned
    from ccs.client.core import CoherenceAdapterCore
    from ccs.client.strategies import STRATEGY_NAMES, Strategy, make_strategy
    from ccs.client.transaction import Transaction
