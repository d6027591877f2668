"""``CoherenceAdapterCore``: one coordinator, one strategy, and the agents of this process."""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from ccs import killswitch
from ccs.backends import Backend
from ccs.bus import Bus
from ccs.bus.base import BUS_RESET
from ccs.client.agent import Agent
from ccs.client.heartbeat import Heartbeater
from ccs.client.strategies import Strategy, make_strategy
from ccs.coordinator import Clock, Coordinator, CrashRecoveryConfig, Limits, SystemClock
from ccs.protocol.arguments import check_int
from ccs.protocol.errors import BackendUnavailable, CoherenceError, ConflictError, OutcomeUnknown
from ccs.protocol.ids import INSTANCE_TOKEN_HEX, check_agent_name, instance_agent_id
from ccs.protocol.messages import Event
from ccs.protocol.records import Mesi

T = TypeVar("T")

_cores: weakref.WeakSet[CoherenceAdapterCore] = weakref.WeakSet()


def _new_token() -> str:
    return os.urandom(INSTANCE_TOKEN_HEX // 2).hex()


def _after_fork_in_child() -> None:
    """A forked child is another process: its cores must not act as the parent's agents."""
    for core in list(_cores):
        core._new_instance()


os.register_at_fork(after_in_child=_after_fork_in_child)


class CoherenceAdapterCore:
    """Entry point of the agent API.

    >>> core = CoherenceAdapterCore(engine="memory://", strategy="lazy")
    >>> planner = core.agent("planner")
    """

    coherence_disabled = False  # CCS_DISABLE does not switch the agent API (ccs.killswitch)

    def __init__(
        self,
        engine: str | Backend = "memory://",
        strategy: str | Strategy = "lazy",
        *,
        bus: str | Bus | None = None,
        clock: Clock | None = None,
        crash_recovery: CrashRecoveryConfig | None = None,
        limits: Limits | None = None,
        coordinator: Coordinator | None = None,
        unavailable_retries: int = 3,
        **strategy_params: Any,
    ) -> None:
        check_int("unavailable_retries", unavailable_retries, minimum=0)
        killswitch.stays_on(killswitch.AGENT_API, "compare-and-set cannot pass through")
        self.strategy = make_strategy(strategy, **strategy_params)
        self.coordinator = coordinator or Coordinator(
            engine, bus=bus, clock=clock, crash_recovery=crash_recovery, limits=limits)
        self.clock = self.coordinator.clock
        self.unavailable_retries = unavailable_retries
        # This instance's token: its agents are ``name@instance`` to the coordinator (agent.py).
        self.instance = _new_token()
        self._agents: dict[str, Agent] = {}
        self._by_id: dict[str, Agent] = {}
        self._lock = threading.Lock()
        self._seq: dict[str, int] = {}
        self._turns: dict[str, Any] = {}  # write_cas turns per artifact (ccs.client.turns)
        self._unsubscribe = self.coordinator.bus.subscribe(self._on_event)
        cr = self.coordinator.crash_recovery
        self.heartbeater = None
        if cr.enabled and cr.auto_heartbeat and isinstance(self.clock, SystemClock):
            self.heartbeater = Heartbeater(self, cr.heartbeat_ttl / 3)
        _cores.add(self)

    def agent(self, name: str) -> Agent:
        """The handle of agent ``name`` of this core (the same object on every call). To the
        coordinator it is ``name@<instance>``: the same name in another core or process is
        another agent."""
        agent = self._agents.get(name) if isinstance(name, str) else None
        if agent is None:
            check_agent_name(name)
            with self._lock:
                agent = self._agents.get(name)
                if agent is None:
                    agent = Agent(self, name)
                    self._by_id[agent.id] = agent
                    self._agents[name] = agent
        return agent

    @property
    def observers(self) -> list:
        """The coordinator's observers (``ccs.observe``): register one with ``append``."""
        return self.coordinator.observers

    @property
    def agents(self) -> dict[str, Agent]:
        return dict(self._agents)

    def call_with_retry(self, call: Callable[..., T], *args: Any) -> T:
        """``call(*args)``, retrying an engine call that failed before a reply arrived. Commits
        carry an idempotency id, so a commit that did land and lost its reply is reported once,
        not applied twice.

        Once an attempt's outcome was unknown, only a success or a refusal that proves the id
        never landed (``id_forgotten`` False) settles it; any other end (retries exhausted, a
        refusal from a record that may have forgotten the id, ...) is ``OutcomeUnknown``."""
        try:
            return call(*args)  # the common case: the first attempt answers
        except CoherenceError as exc:
            failed = exc
        return self._retry(call, args, failed)

    def _retry(self, call: Callable[..., T], args: tuple[Any, ...], failed: CoherenceError) -> T:
        """The rest of ``call_with_retry`` after attempt 0 failed with ``failed``."""
        unknown: OutcomeUnknown | None = None
        attempt = 0
        while True:
            exc = failed
            if isinstance(exc, OutcomeUnknown):
                unknown = last = exc
            elif isinstance(exc, BackendUnavailable):
                if not exc.retryable:
                    if unknown is not None:
                        raise _unsettled(unknown, exc) from exc
                    raise exc
                last = exc
            elif isinstance(exc, ConflictError):
                if unknown is not None and exc.details.get("id_forgotten") is not False:
                    raise _unsettled(unknown, exc) from exc
                raise exc
            else:
                if unknown is not None:
                    raise _unsettled(unknown, exc) from exc
                raise exc
            if attempt == self.unavailable_retries:
                if unknown is not None and last is not unknown:
                    raise _unsettled(unknown, last) from last
                raise last
            time.sleep(0.05 * 2 ** attempt)
            attempt += 1
            try:
                return call(*args)
            except CoherenceError as again:
                failed = again

    def _on_event(self, event: Event) -> None:
        if event.kind == BUS_RESET:
            self._on_bus_reset()
            return
        aid = event.artifact
        last = self._seq.get(aid)
        if last is None or event.seq > last + 1:
            # Not every earlier event was seen (none at all, since this core started or its bus
            # reset): a copy older than the ones missed may have missed its invalidation.
            for agent in list(self._agents.values()):
                agent._on_gap(aid, event.seq - 1)
        if last is None or event.seq > last:
            self._seq[aid] = event.seq
        for target in event.targets:
            agent = self._by_id.get(target)
            if agent is not None:
                agent._on_event(event)

    def _new_instance(self) -> None:
        """In a forked child: new token, so new agent ids; every cached copy was registered under
        the parent's ids and grants are the parent's, so each is revalidated before use."""
        self._lock = threading.Lock()
        self._turns.clear()  # (in place: the agents share it) a parent thread's turn stays taken
        self.instance = _new_token()
        by_id = {}
        for agent in list(self._agents.values()):
            agent.id = instance_agent_id(agent.name, self.instance)
            agent.holds_grants = False
            by_id[agent.id] = agent
            for entry in agent._cache.values():
                entry.valid = False
                entry.prefetched = None
                entry.state = Mesi.SHARED
        self._by_id = by_id

    def _on_bus_reset(self) -> None:
        """The bus (re)connected and may have missed messages: revalidate every cached copy."""
        self._seq.clear()
        for agent in list(self._agents.values()):
            for aid in list(agent._cache):
                agent._on_gap(aid)

    def sweep(self):
        return self.coordinator.sweep()

    def close(self) -> None:
        if self.heartbeater is not None:
            self.heartbeater.stop()
        self._unsubscribe()
        self.coordinator.close()

    def __enter__(self) -> CoherenceAdapterCore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unsettled(unknown: OutcomeUnknown, last: CoherenceError) -> OutcomeUnknown:
    """The unknown outcome, still unknown after ``last`` (which did not settle it)."""
    details = {k: v for k, v in unknown.details.items() if k != "last_error"}
    return OutcomeUnknown(f"{unknown.message}; a retry did not settle it: {last.message}",
                          artifact=unknown.artifact, current_version=last.current_version,
                          current_epoch=last.current_epoch, recover=unknown.recover,
                          last_error=last.to_dict(), **details)
