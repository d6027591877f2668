"""Deterministic simulation of agent fleets on the real client: tokens, staleness, conflicts.

>>> from ccs.sim import load_scenario, simulate
>>> result = simulate(load_scenario("scenario.yaml"))
>>> result["runs"]["lazy"]["savings_vs_fetch"]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ccs.sim.metrics import RunMetrics
from ccs.sim.runner import Run, run_strategy
from ccs.sim.scenario import (
    STRATEGIES,
    Scenario,
    ScenarioError,
    builtin_scenarios,
    load_scenario,
    parse_scenario,
)
from ccs.tokens.counter import TokenCounter, default_counter
from ccs.tokens.render import measure_signal

__all__ = [
    "STRATEGIES", "Run", "RunMetrics", "Scenario", "ScenarioError", "builtin_scenarios",
    "load_scenario", "parse_scenario", "run_strategy", "simulate",
]


def simulate(scenario: Scenario, strategies: tuple[str, ...] | None = None,
             counter: TokenCounter | None = None, *, diffs: bool = True,
             progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run ``scenario`` under each strategy (same seed, same schedule) and return a JSON-able
    result: per-strategy metrics, the baselines of each run, and the measured signal cost."""
    counter = counter or default_counter()
    runs = {}
    for strategy in strategies or scenario.strategies:
        runs[strategy] = run_strategy(scenario, strategy, counter, diffs=diffs).to_dict()
        if progress is not None:
            progress(strategy)
    sig = measure_signal(counter, scenario.artifacts[0].id)
    return {
        "scenario": scenario.name, "seed": scenario.seed, "ticks": scenario.ticks,
        "volatility": scenario.volatility, "agents": len(scenario.agents),
        "artifacts": {a.id: a.tokens for a in scenario.artifacts},
        "faults": {"message_loss": scenario.faults.message_loss,
                   "delay_p": scenario.faults.delay_p, "delay_ticks": scenario.faults.delay_ticks,
                   "crashes": len(scenario.faults.crashes),
                   "coordinator_restarts": len(scenario.faults.coordinator_restarts)},
        "tokenizer": counter.name, "diffs": diffs,
        "signal": {"text": sig.text, "tokens": sig.tokens},
        "runs": runs,
    }
