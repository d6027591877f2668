"""Scenarios: who shares what, how often they read and write, and which faults hit them.

A scenario is a YAML mapping (every key but ``artifacts`` has a default)::

    name: volatility-0.10
    seed: 7
    ticks: 120                  # one tick = one second on the simulator's ManualClock
    volatility: 0.10            # share of turns that write (sets each agent's write_p / read_p)
    activity: 0.8               # probability that an agent takes a turn in a tick
    agents: 4                   # or a list: [{name: planner, read_p: 0.7, write_p: 0.1}, ...]
    reads_per_turn: 2           # distinct artifacts a read turn reads
    think_ticks: 1              # ticks between the read a write derives from and the write
    edit_lines: 2               # lines a write replaces
    artifacts:
      - {id: plan.md, tokens: 800}
    strategies: [lazy, eager, lease, access_count, broadcast, adaptive]
    strategy_params: {lease: {ttl: 5}, access_count: {max_reads: 4}}
    crash_recovery: {heartbeat_ttl: 10, sweep_interval: 2}
    faults:
      message_loss: 0.05        # probability that one invalidation is lost for one subscriber
      message_delay: {p: 0.1, ticks: 3}
      crashes: [{agent: a2, at: 40, down: 15}]   # paused: no turns, no events, a pending write
      coordinator_restarts: [60]                 # pending messages are lost; caches survive
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ccs.protocol.errors import InvalidRequest

STRATEGIES = ("lazy", "eager", "lease", "access_count", "broadcast", "adaptive")


class ScenarioError(InvalidRequest, ValueError):
    """A scenario file that does not describe a runnable scenario."""

    code = "invalid_scenario"
    default_recover = "name a built-in scenario (ccs simulate --help lists them) or a valid YAML file"


@dataclass(frozen=True)
class AgentSpec:
    name: str
    read_p: float
    write_p: float


@dataclass(frozen=True)
class ArtifactSpec:
    id: str
    tokens: int


@dataclass(frozen=True)
class Crash:
    agent: str
    at: int
    down: int


@dataclass(frozen=True)
class Faults:
    message_loss: float = 0.0
    delay_p: float = 0.0
    delay_ticks: int = 0
    crashes: tuple[Crash, ...] = ()
    coordinator_restarts: tuple[int, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.message_loss or self.delay_p or self.crashes or self.coordinator_restarts)


@dataclass(frozen=True)
class Scenario:
    name: str
    artifacts: tuple[ArtifactSpec, ...]
    agents: tuple[AgentSpec, ...]
    seed: int = 0
    ticks: int = 100
    volatility: float = 0.1
    reads_per_turn: int = 2
    think_ticks: int = 1
    edit_lines: int = 2
    strategies: tuple[str, ...] = STRATEGIES
    strategy_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    heartbeat_ttl: float = 10.0
    sweep_interval: float = 2.0
    faults: Faults = Faults()

    def with_(self, **changes: Any) -> Scenario:
        data = {f: getattr(self, f) for f in self.__dataclass_fields__}
        data.update(changes)
        return Scenario(**data)


def _prob(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ScenarioError(f"{what} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _int(value: Any, what: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ScenarioError(f"{what} must be an integer >= {low}, got {value!r}")
    return value


def _agents(raw: Any, volatility: float, activity: float) -> tuple[AgentSpec, ...]:
    write_p, read_p = activity * volatility, activity * (1 - volatility)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return tuple(AgentSpec(f"a{i + 1}", read_p, write_p) for i in range(_int(raw, "agents", 1)))
    if not isinstance(raw, list) or not raw:
        raise ScenarioError("agents must be a count or a non-empty list")
    out = []
    for i, a in enumerate(raw):
        if not isinstance(a, dict) or "name" not in a:
            raise ScenarioError(f"agents[{i}] must be a mapping with a name")
        r = _prob(a.get("read_p", read_p), f"agents[{i}].read_p")
        w = _prob(a.get("write_p", write_p), f"agents[{i}].write_p")
        if r + w > 1:
            raise ScenarioError(f"agents[{i}]: read_p + write_p must be <= 1")
        out.append(AgentSpec(str(a["name"]), r, w))
    if len({a.name for a in out}) != len(out):
        raise ScenarioError("agent names must be unique")
    return tuple(out)


def _faults(raw: Any, agents: set[str], ticks: int) -> Faults:
    if raw is None:
        return Faults()
    if not isinstance(raw, dict):
        raise ScenarioError("faults must be a mapping")
    unknown = set(raw) - {"message_loss", "message_delay", "crashes", "coordinator_restarts"}
    if unknown:
        raise ScenarioError(f"unknown fault(s): {', '.join(sorted(unknown))}")
    delay = raw.get("message_delay") or {}
    crashes = []
    for i, c in enumerate(raw.get("crashes") or ()):
        if not isinstance(c, dict) or c.get("agent") not in agents:
            raise ScenarioError(f"faults.crashes[{i}] must name one of the agents: {sorted(agents)}")
        crashes.append(Crash(c["agent"], _int(c.get("at", 0), "crash at"),
                             _int(c.get("down", 10), "crash down", 1)))
    restarts = tuple(_int(t, "coordinator restart tick") for t in raw.get("coordinator_restarts") or ())
    return Faults(
        message_loss=_prob(raw.get("message_loss", 0.0), "faults.message_loss"),
        delay_p=_prob(delay.get("p", 0.0), "faults.message_delay.p"),
        delay_ticks=_int(delay.get("ticks", 2), "faults.message_delay.ticks"),
        crashes=tuple(crashes), coordinator_restarts=restarts)


def parse_scenario(data: dict[str, Any], *, default_name: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a YAML mapping")
    known = {"name", "seed", "ticks", "volatility", "activity", "agents", "reads_per_turn",
             "think_ticks", "edit_lines", "artifacts", "strategies", "strategy_params",
             "crash_recovery", "faults", "description"}
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(f"unknown scenario key(s): {', '.join(sorted(unknown))}")
    volatility = _prob(data.get("volatility", 0.1), "volatility")
    activity = _prob(data.get("activity", 0.8), "activity")
    agents = _agents(data.get("agents", 4), volatility, activity)
    arts = data.get("artifacts")
    if not isinstance(arts, list) or not arts:
        raise ScenarioError("artifacts must be a non-empty list of {id, tokens}")
    artifacts = []
    for i, a in enumerate(arts):
        if not isinstance(a, dict) or not isinstance(a.get("id"), str):
            raise ScenarioError(f"artifacts[{i}] must be a mapping with a string id")
        artifacts.append(ArtifactSpec(a["id"], _int(a.get("tokens", 500), f"artifacts[{i}].tokens", 20)))
    strategies = tuple(data.get("strategies", STRATEGIES))
    bad = [s for s in strategies if s not in STRATEGIES]
    if bad:
        raise ScenarioError(f"unknown strategies {bad}; known: {', '.join(STRATEGIES)}")
    ticks = _int(data.get("ticks", 100), "ticks", 1)
    cr = data.get("crash_recovery") or {}
    return Scenario(
        name=str(data.get("name", default_name)), artifacts=tuple(artifacts), agents=agents,
        seed=_int(data.get("seed", 0), "seed"), ticks=ticks, volatility=volatility,
        reads_per_turn=_int(data.get("reads_per_turn", 2), "reads_per_turn", 1),
        think_ticks=_int(data.get("think_ticks", 1), "think_ticks"),
        edit_lines=_int(data.get("edit_lines", 2), "edit_lines", 1),
        strategies=strategies, strategy_params=dict(data.get("strategy_params") or {}),
        heartbeat_ttl=float(cr.get("heartbeat_ttl", 10.0)),
        sweep_interval=float(cr.get("sweep_interval", 2.0)),
        faults=_faults(data.get("faults"), {a.name for a in agents}, ticks))


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    return parse_scenario(data, default_name=path.stem)


def builtin_scenarios() -> dict[str, Path]:
    """The scenario files shipped with the package, by name."""
    root = Path(__file__).parent / "scenarios"
    return {p.stem: p for p in sorted(root.glob("*.yaml"))}
