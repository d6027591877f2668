"""ccs.sim: determinism, hand-computed savings, and 0 lost updates under every injected fault."""

import pytest

from ccs.client.agent import Agent
from ccs.sim import STRATEGIES, ScenarioError, builtin_scenarios, load_scenario, parse_scenario, simulate
from ccs.sim.runner import run_strategy


class LineCounter:
    """One token per line: makes every rendering's price computable by hand."""

    name = "lines"

    def count(self, text: str) -> int:
        return text.count("\n") + 1


def scenario(**over):
    data = {"name": "t", "seed": 3, "ticks": 40, "volatility": 0.3, "agents": 3,
            "artifacts": [{"id": "plan.md", "tokens": 200}, {"id": "notes.md", "tokens": 120}]}
    data.update(over)
    return parse_scenario(data)


def test_same_seed_same_result_different_seed_differs():
    sc = scenario(faults={"message_loss": 0.2, "message_delay": {"p": 0.2, "ticks": 2}})
    assert simulate(sc) == simulate(sc)
    assert simulate(sc)["runs"] != simulate(sc.with_(seed=4))["runs"]


def test_reader_only_savings_by_hand():
    # 20 lines of content + 2 wrapper lines = 22 tokens; a reference is 1 line.
    sc = scenario(ticks=5, agents=[{"name": "r", "read_p": 1.0, "write_p": 0.0}],
                  artifacts=[{"id": "a", "tokens": 20}], reads_per_turn=1)
    lazy = run_strategy(sc, "lazy", LineCounter()).to_dict()
    assert lazy["tokens"] == {"content": 22, "reference": 4, "diff": 0, "signal": 0}
    assert lazy["baselines"] == {"rebroadcast": 5 * 22, "fetch_every_read": 5 * 22,
                                 "offline_optimum": 22, "optimum_signal_tokens": 0}
    assert lazy["savings_vs_fetch"] == round(1 - 26 / 110, 4)
    assert lazy["over_optimum"] == round(26 / 22 - 1, 4)
    full = run_strategy(sc, "broadcast", LineCounter()).to_dict()
    assert full["total_tokens"] == 110 and full["savings_vs_fetch"] == 0.0


def test_writer_holds_its_own_versions_by_hand():
    sc = scenario(ticks=3, agents=[{"name": "w", "read_p": 0.0, "write_p": 1.0}],
                  artifacts=[{"id": "a", "tokens": 20}], think_ticks=0, edit_lines=1)
    m = run_strategy(sc, "lazy", LineCounter()).to_dict()
    # tick 0 reads v1 in full, then each tick writes; later reads are of its own last write
    assert m["commits"] == 3 and m["tokens"] == {"content": 22, "reference": 2, "diff": 0, "signal": 0}
    assert m["baselines"]["fetch_every_read"] == 66 and m["baselines"]["offline_optimum"] == 22


def test_signal_priced_in_run_matches_measured_signal():
    sc = scenario(ticks=60, volatility=0.5)
    res = simulate(sc, ("lazy",))
    lazy = res["runs"]["lazy"]
    assert lazy["renders"]["signal"] > 0
    assert res["signal"]["tokens"] > 5
    # every signal line is roughly the measured size (artifact ids differ in length)
    assert abs(lazy["tokens"]["signal"] / lazy["renders"]["signal"] - res["signal"]["tokens"]) < 2


FAULTS = {
    "loss": {"message_loss": 0.5},
    "delay": {"message_delay": {"p": 0.5, "ticks": 3}},
    "crash": {"crashes": [{"agent": "a1", "at": 5, "down": 15}, {"agent": "a2", "at": 20, "down": 4}]},
    "restart": {"coordinator_restarts": [7, 19, 30]},
    "all": {"message_loss": 0.3, "message_delay": {"p": 0.3, "ticks": 2},
            "crashes": [{"agent": "a3", "at": 10, "down": 12}], "coordinator_restarts": [15]},
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_no_lost_update_under_any_fault(fault):
    sc = scenario(volatility=0.6, think_ticks=2, faults=FAULTS[fault],
                  crash_recovery={"heartbeat_ttl": 4, "sweep_interval": 1})
    res = simulate(sc, STRATEGIES)
    for strategy, run in res["runs"].items():
        assert run["commits"] > 5, strategy
        assert run["lost_updates"] == 0, (fault, strategy)


def test_lost_update_detector_is_not_vacuous(monkeypatch):
    original = Agent.write
    monkeypatch.setattr(Agent, "write", lambda self, aid, value, **kw: original(self, aid, value, blind=True))
    sc = scenario(volatility=0.6, think_ticks=2)
    assert run_strategy(sc, "lazy").lost_updates > 0


def test_lost_invalidations_show_as_staleness_and_lease_bounds_it():
    sc = scenario(ticks=80, volatility=0.3, faults={"message_loss": 1.0},
                  strategy_params={"lease": {"ttl": 2}})
    res = simulate(sc, ("lazy", "lease", "broadcast", "adaptive"))["runs"]
    assert res["lazy"]["stale_reads"] > 0 and res["lazy"]["max_staleness"] >= 1
    assert res["broadcast"]["stale_reads"] == 0
    assert res["lease"]["stale_reads"] < res["lazy"]["stale_reads"]


def test_zombie_write_after_crash_is_refused():
    sc = scenario(ticks=60, volatility=0.9, think_ticks=3,
                  faults={"crashes": [{"agent": "a1", "at": 2, "down": 20}]},
                  crash_recovery={"heartbeat_ttl": 3, "sweep_interval": 1})
    for strategy in STRATEGIES:
        m = run_strategy(sc, strategy)
        assert m.lost_updates == 0
        # a1 paused mid-write; peers committed meanwhile, so its wake-up write must be refused
        assert (m.zombie_writes_refused, m.zombie_writes_landed) == (1, 0), strategy


def test_builtin_volatility_sweep_files_load():
    names = builtin_scenarios()
    for v in ("005", "010", "025", "050", "090"):
        sc = load_scenario(names[f"volatility-{v}"])
        assert sc.volatility == int(v) / 100 and len(sc.agents) == 4


@pytest.mark.parametrize("bad, msg", [
    ({"volatility": 2}, "volatility"), ({"artifacts": []}, "artifacts"), ({"strategies": ["x"]}, "unknown"),
    ({"faults": {"crashes": [{"agent": "nobody"}]}}, "agents"), ({"bogus": 1}, "bogus"),
])
def test_bad_scenarios_are_refused(bad, msg):
    with pytest.raises(ScenarioError, match=msg):
        scenario(**bad)
