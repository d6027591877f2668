"""What the seed package's users match on keeps working (docs/seed-compatibility.md)."""

from __future__ import annotations

import json

import pytest

import ccs
from ccs import CoherenceAdapterCore, ConflictError, GrantReclaimed, ManualClock, StaleEpoch
from ccs.protocol.errors import ERRORS_BY_CODE, CoherenceError, StaleReadGeneration


def test_stale_read_generation_is_the_code_for_a_fenced_writer():
    assert ccs.StaleReadGeneration is StaleReadGeneration
    assert issubclass(StaleReadGeneration, ConflictError)
    assert issubclass(GrantReclaimed, StaleReadGeneration) and issubclass(StaleEpoch, StaleReadGeneration)
    assert StaleReadGeneration.code == "stale_read_generation"
    assert (GrantReclaimed.code, StaleEpoch.code) == ("grant_reclaimed", "stale_epoch")
    assert ERRORS_BY_CODE["stale_read_generation"] is StaleReadGeneration
    back = CoherenceError.from_dict(json.loads(StaleReadGeneration("x", artifact="a").to_json()))
    assert type(back) is StaleReadGeneration and back.recover


def test_except_stale_read_generation_catches_both_fenced_refusals():
    clock = ManualClock()
    core = CoherenceAdapterCore(clock=clock)
    holder, reader, peer = core.agent("holder"), core.agent("reader"), core.agent("peer")
    holder.write("notes", "v1")
    reader.read("notes")
    holder.acquire("notes")
    clock.advance(31)                      # holder's heartbeats stopped: its grant is reclaimed
    peer.heartbeat()
    reader.heartbeat()
    core.sweep()                           # (or already swept, piggybacked on a heartbeat)
    caught = []
    for agent in (holder, reader):
        with pytest.raises(StaleReadGeneration) as err:
            agent.write("notes", "derived from epoch 0")
        caught.append(err.value.code)
    assert caught == ["grant_reclaimed", "stale_epoch"]
    assert peer.read("notes") == "v1"      # nothing landed
    core.close()


def test_seed_module_paths_are_thin_re_exports():
    import ccs.client.strategies
    import ccs.core
    import ccs.protocol
    import ccs.sim
    import ccs.simulation
    import ccs.strategies

    assert ccs.core.Mesi is ccs.protocol.Mesi and ccs.core.StaleView is ccs.StaleView
    assert ccs.core.CoherenceAdapterCore is ccs.CoherenceAdapterCore
    assert ccs.core.StaleReadGeneration is StaleReadGeneration
    assert ccs.strategies.make_strategy is ccs.client.strategies.make_strategy
    assert ccs.strategies.make_strategy("lease", ttl=2).ttl == 2.0
    assert ccs.simulation.simulate is ccs.sim.simulate
    assert set(ccs.simulation.__all__) == set(ccs.sim.__all__)
    for module in (ccs.core, ccs.strategies, ccs.simulation):
        assert all(hasattr(module, name) for name in module.__all__)


def test_seed_console_scripts_are_the_replay_and_diagnose_commands(capsys, tmp_path):
    import tomllib
    from importlib import import_module
    from pathlib import Path

    from ccs.cli import diagnose, replay

    scripts = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml")
                            .read_text())["project"]["scripts"]
    expected = {"agent-coherence-replay": replay.main, "ccs-diagnose": diagnose.main}
    for name, func in expected.items():
        module, attr = scripts[name].split(":")
        assert getattr(import_module(module), attr) is func
        with pytest.raises(SystemExit) as info:
            func(["--help"])
        assert info.value.code == 0 and f"usage: {name} " in capsys.readouterr().out
    assert replay.main([str(tmp_path / "missing.jsonl")]) == 2  # bad input: one typed line
    assert capsys.readouterr().err.startswith("agent-coherence-replay: error [unreadable_history]: ")
    for target in scripts.values():  # every registered script resolves to a callable
        module, func = target.split(":")
        assert callable(getattr(import_module(module), func))
