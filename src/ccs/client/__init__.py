from ccs.client.agent import Agent, AgentStats, Versioned
from ccs.client.core import CoherenceAdapterCore
from ccs.client.strategies import STRATEGY_NAMES, Strategy, make_strategy
from ccs.client.transaction import Transaction

__all__ = ["STRATEGY_NAMES", "Agent", "AgentStats", "CoherenceAdapterCore", "Strategy",
           "Transaction", "Versioned", "make_strategy"]
