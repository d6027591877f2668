"""Runs one scenario under one strategy on the real client and coordinator, tick by tick.

Every agent has its own :class:`CoherenceAdapterCore` (its own cache and bus subscription, as a
separate process would) over one shared coordinator, a :class:`ManualClock` advanced one second
per tick, and a :class:`FaultyBus`. Nothing here re-implements the protocol: reads, writes,
invalidations, crash recovery and fencing are the library's own. The simulator only decides who
acts when (from the seed), injects faults, and checks the outcome against ground truth.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ccs.client.core import CoherenceAdapterCore
from ccs.coordinator import Coordinator, CrashRecoveryConfig, Limits, ManualClock
from ccs.protocol.errors import ConflictError
from ccs.sim.adaptive import AdaptivePolicy
from ccs.sim.content import edit, initial_text
from ccs.sim.faults import FaultyBus
from ccs.sim.metrics import OptimumTracker, RunMetrics, Truth
from ccs.sim.scenario import AgentSpec, Scenario
from ccs.tokens.agent import ContextAgent
from ccs.tokens.counter import TokenCounter, default_counter
from ccs.tokens.render import ContextRenderer

MAX_ATTEMPTS = 3


@dataclass
class PendingWrite:
    artifact: str
    base_version: int
    base_text: str
    text: str
    due: int
    attempt: int = 1


class SimAgent:
    def __init__(self, run: Run, spec: AgentSpec) -> None:
        self.run = run
        self.spec = spec
        self.name = spec.name
        self.down_until: int | None = None
        self.pending: PendingWrite | None = None
        self.policy = AdaptivePolicy() if run.strategy == "adaptive" else None
        self.retired: list[CoherenceAdapterCore] = []
        self.conversation = 0  # tokens this agent's conversation holds (re-sent by each turn)
        self._boot()

    def _boot(self) -> None:
        run = self.run
        core_strategy = "lazy" if run.strategy == "adaptive" else run.strategy
        self.core = CoherenceAdapterCore(coordinator=run.coordinator, strategy=core_strategy,
                                         **run.scenario.strategy_params.get(run.strategy, {}))
        run.bus.set_alive(self.core._on_event, self.alive)
        self.agent = self.core.agent(self.name)
        self.ctx = ContextAgent(self.agent, ContextRenderer(run.counter, diffs=run.diffs),
                                full=run.strategy == "broadcast")

    def alive(self) -> bool:
        return self.down_until is None

    # --- a turn --------------------------------------------------------------------------------

    def turn(self, tick: int) -> None:
        before = self.run.metrics.total
        self._turn(tick)
        added = self.run.metrics.total - before
        if added:  # a turn that sent a prompt re-sent the conversation so far
            self.run.metrics.history += self.conversation
            self.conversation += added

    def _turn(self, tick: int) -> None:
        run, sc = self.run, self.run.scenario
        if self.pending is not None:
            if tick >= self.pending.due:
                self._signals({self.pending.artifact})
                self._write(tick)
            return
        rng = random.Random(f"{sc.seed}:{tick}:{self.name}")
        u = rng.random()
        ids = [a.id for a in sc.artifacts]
        if u < self.spec.write_p:
            aid = rng.choice(ids)
            self._signals({aid})
            value, version = self._read(aid)
            new = edit(value, random.Random(f"{sc.seed}:{tick}:{self.name}:edit"), sc.edit_lines,
                       f"{self.name}@{tick}")
            self.pending = PendingWrite(aid, version, value, new, tick + sc.think_ticks)
            if sc.think_ticks == 0:
                self._write(tick)
        elif u < self.spec.write_p + self.spec.read_p:
            chosen = rng.sample(ids, min(sc.reads_per_turn, len(ids)))
            self._signals(set(chosen))
            for aid in chosen:
                self._read(aid)
        else:
            return
        run.turns += 1

    def _signals(self, reading: set[str]) -> None:
        self.run.optimum.turn(self.name, reading)
        for r in self.ctx.signals(exclude=reading):
            self.run.book(r)

    def _read(self, aid: str, *, fresh: bool = False) -> tuple[str, int]:
        run = self.run
        if self.policy is not None and not fresh:
            fresh = self.policy.mode(aid, run.sizes[aid]) == "validate"
        snap = self.agent.read_with_version(aid, None) if fresh else self.agent.snapshot(aid, None)
        run.book(self.ctx.render(aid, snap.value, snap.version))
        if self.policy is not None:
            self.policy.observe_read(aid, snap.version)
        current = run.coordinator.artifact(aid).version
        m = run.metrics
        m.reads += 1
        m.baseline_fetch += run.truth.content_tokens(aid, current)
        run.optimum.read(self.name, aid)
        lag = current - snap.version
        if lag > 0:
            m.stale_reads += 1
            m.stale_versions += lag
            m.max_staleness = max(m.max_staleness, lag)
        return snap.value, snap.version

    def _write(self, tick: int, *, zombie: bool = False) -> None:
        run, p = self.run, self.pending
        assert p is not None
        self.pending = None
        m = run.metrics
        try:
            if run.strategy in ("eager", "broadcast"):
                # the explicit form: the version the text was derived from is passed in
                version = self.agent.commit_cas(p.artifact, p.base_version, p.text)
            else:  # the implicit form: the agent's view of the artifact is the base
                version = self.agent.write(p.artifact, p.text)
        except ConflictError as exc:
            m.conflicts[exc.code] += 1
            if zombie:
                m.zombie_writes_refused += 1
                return
            if p.attempt >= MAX_ATTEMPTS:
                m.abandoned_writes += 1
                return
            value, base = self._read(p.artifact, fresh=True)
            new = edit(value, random.Random(f"{run.scenario.seed}:{tick}:{self.name}:retry"),
                       run.scenario.edit_lines, f"{self.name}@{tick}r")
            self.pending = PendingWrite(p.artifact, base, value, new, tick + run.scenario.think_ticks,
                                        p.attempt + 1)
            return
        m.commits += 1
        if zombie:
            m.zombie_writes_landed += 1
        previous = run.coordinator.content_at(p.artifact, version - 1)
        if version != p.base_version + 1 or previous is None or previous.decode() != p.base_text:
            m.lost_updates += 1  # the write landed over a version it was not derived from
        run.truth.commit(p.artifact, version, p.text)
        self.ctx.wrote(p.artifact, p.text, version)
        run.optimum.wrote(self.name, p.artifact, version)
        if self.policy is not None:
            self.policy.observe_write(p.artifact, version)

    # --- faults --------------------------------------------------------------------------------

    def crash(self, until: int) -> None:
        self.down_until = until

    def recover(self, tick: int) -> None:
        """The paused process wakes: its pending write (derived before the pause) is tried
        first, then it restarts with an empty cache and a new conversation."""
        self.down_until = None
        if self.pending is not None:
            self._write(tick, zombie=True)
        self.pending = None
        self.conversation = 0
        self._retire()
        self._boot()
        self.run.optimum.reset(self.name)

    def _retire(self) -> None:
        self.run.collect(self)
        self.core._unsubscribe()
        self.retired.append(self.core)


class Run:
    def __init__(self, scenario: Scenario, strategy: str, counter: TokenCounter | None = None,
                 *, diffs: bool = True) -> None:
        self.scenario = scenario
        self.strategy = strategy
        self.counter = counter or default_counter()
        self.diffs = diffs
        self.metrics = RunMetrics(scenario.name, strategy)
        f = scenario.faults
        self.bus = FaultyBus(random.Random(f"{scenario.seed}:faults"), f.message_loss, f.delay_p,
                             f.delay_ticks)
        self.clock = ManualClock(start=0.0)
        self.crash_recovery = CrashRecoveryConfig(heartbeat_ttl=scenario.heartbeat_ttl,
                                                  sweep_interval=scenario.sweep_interval)
        self.limits = Limits(retain_versions=16)
        self.coordinator = Coordinator("memory://", bus=self.bus, clock=self.clock,
                                       crash_recovery=self.crash_recovery, limits=self.limits)
        self.pricer = ContextRenderer(self.counter, diffs=diffs)
        self.truth = Truth(self.pricer)
        self.optimum = OptimumTracker(self.truth, self.pricer)
        self.turns = 0
        self._seed_artifacts()
        self.agents = [SimAgent(self, spec) for spec in scenario.agents]

    def _seed_artifacts(self) -> None:
        setup = CoherenceAdapterCore(coordinator=self.coordinator, strategy="broadcast")
        writer = setup.agent("setup")
        self.sizes: dict[str, int] = {}
        for spec in self.scenario.artifacts:
            text = initial_text(spec.id, spec.tokens, random.Random(f"{self.scenario.seed}:{spec.id}"),
                                self.counter.count)
            version = writer.commit_cas(spec.id, 0, text)
            self.truth.commit(spec.id, version, text)
            self.sizes[spec.id] = self.counter.count(text)
        setup._unsubscribe()

    def book(self, rendered) -> None:
        self.metrics.tokens[rendered.kind] += rendered.tokens
        self.metrics.renders[rendered.kind] += 1

    def collect(self, a: SimAgent) -> None:
        s = a.agent.stats
        self.metrics.store_fetches += s.misses + s.not_modified
        self.metrics.cache_hits += s.hits
        self.metrics.bytes_fetched += s.bytes_fetched
        if a.policy is not None:
            for k, v in a.policy.choices.items():
                self.metrics.adaptive_choices[k] = self.metrics.adaptive_choices.get(k, 0) + v
            a.policy.choices.clear()

    def restart_coordinator(self) -> None:
        """A new coordinator process over the same durable records; messages in flight are lost,
        agents' caches survive and must revalidate through sequence gaps, leases or conflicts."""
        self.bus.drop_pending()
        self.coordinator = Coordinator(self.coordinator.backend, bus=self.bus, clock=self.clock,
                                       crash_recovery=self.crash_recovery, limits=self.limits)
        for a in self.agents:
            a.core.coordinator = self.coordinator
            a.agent.coordinator = self.coordinator

    def execute(self) -> RunMetrics:
        sc, f = self.scenario, self.scenario.faults
        crashes = {c.at: c for c in f.crashes}
        restarts = set(f.coordinator_restarts)
        beat_every = max(1, int(sc.heartbeat_ttl // 3))
        by_name = {a.name: a for a in self.agents}
        for tick in range(sc.ticks):
            self.clock.set(float(tick))
            self.bus.advance(tick)
            if tick in restarts:
                self.restart_coordinator()
            if tick in crashes:
                by_name[crashes[tick].agent].crash(tick + crashes[tick].down)
            for a in self.agents:
                if a.down_until is not None and tick >= a.down_until:
                    a.recover(tick)
            order = list(self.agents)
            random.Random(f"{sc.seed}:{tick}:order").shuffle(order)
            for a in order:
                if not a.alive():
                    continue
                if tick % beat_every == 0:
                    a.agent.heartbeat()
                a.turn(tick)
            alive = sum(1 for a in self.agents if a.alive())
            self.metrics.baseline_rebroadcast += alive * sum(
                self.truth.content_tokens(aid, v) for aid, v in self.truth.current.items())
        for a in self.agents:
            self.collect(a)
        m = self.metrics
        m.optimum = self.optimum.tokens
        m.optimum_signals = self.optimum.signal_tokens
        m.messages = {"delivered": self.bus.delivered, "lost": self.bus.lost,
                      "delayed": self.bus.delayed, "not_heard_while_down": self.bus.dropped_down}
        self.coordinator.close()
        return m


def run_strategy(scenario: Scenario, strategy: str, counter: TokenCounter | None = None, *,
                 diffs: bool = True) -> RunMetrics:
    return Run(scenario, strategy, counter, diffs=diffs).execute()
