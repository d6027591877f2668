"""OpenTelemetry for agent-coherence: one line, ``instrument(core_or_coordinator)``.

Every coordinator operation becomes a span ``ccs.<operation>`` (timed as the operation ran, a child
of whatever span is current in the calling thread) with the attributes ``ccs.operation``,
``ccs.artifact`` (and ``ccs.artifacts`` when there are several), ``ccs.agent`` (the readable name;
``ccs.agent.id`` the protocol id), ``ccs.version.base``, ``ccs.version.new``, ``ccs.epoch``,
``ccs.outcome`` (ok / refused / error), ``ccs.error.code``, ``ccs.version.current`` (on a
refusal: the version that won), ``ccs.cache`` (miss / revalidated), and where nonzero ``ccs.bytes``,
``ccs.invalidations`` and ``ccs.reclaims``. A refusal is an expected outcome of the protocol, so
its span status stays unset; an error sets status ERROR. A cache hit runs no engine operation and
gets no span, only metrics.

Metrics (meter ``ccs``; the counters are observable counters over totals kept in the observer,
so an operation adds to a dict rather than making an SDK measurement per counter):

=============================  ==========  ===================================================
``ccs.cache.hits``             counter     reads served from the agent's copy, no engine call
``ccs.cache.misses``           counter     reads that moved content
``ccs.cache.revalidations``    counter     reads checked with the engine, copy current
``ccs.commits``                counter     commits that landed, by ``ccs.operation``
``ccs.conflicts``              counter     refused operations, by ``ccs.error.code``
``ccs.reclaims``               counter     grants reclaimed by crash recovery
``ccs.invalidations.sent``     counter     agents told to drop their copy
``ccs.bytes``                  counter     content bytes moved, by ``ccs.direction`` (in / out)
``ccs.operation.duration``     histogram   seconds, by ``ccs.operation`` and ``ccs.outcome``
=============================  ==========  ===================================================

Tokens are not counted here: the coordinator moves bytes, and only ``ccs.tokens`` (the context
renderer) knows what a prompt costs. ``CCS_TELEMETRY=0`` makes ``instrument`` do nothing.
Needs ``opentelemetry-api`` only (``pip install agent-coherence[otel]``); the application
configures the SDK and exporters as usual.
"""

from __future__ import annotations

import threading
from typing import Any

try:
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import Observation
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"ccs.observe.otel needs {exc.name}: pip install 'agent-coherence[otel]'"
                      ) from exc

from ccs import __version__ as _version
from ccs.observe import observers_of
from ccs.observe.events import ERROR, HIT, MISS, OK, REFUSED, REVALIDATED, ObservedOp
from ccs.observe.events import telemetry_enabled as enabled

__all__ = ["OTelObserver", "instrument", "uninstrument"]

_COUNTERS = (
    ("ccs.cache.hits", "1", "reads served from the agent's copy, no engine call"),
    ("ccs.cache.misses", "1", "reads that moved content"),
    ("ccs.cache.revalidations", "1", "reads checked with the engine that moved no content"),
    ("ccs.commits", "1", "commits that landed"),
    ("ccs.conflicts", "1", "operations refused, by code"),
    ("ccs.reclaims", "1", "grants reclaimed by crash recovery"),
    ("ccs.invalidations.sent", "1", "agents told to drop their cached copy"),
    ("ccs.bytes", "By", "content bytes moved"),
)
_COMMITS = frozenset(("write", "commit", "commit_cas", "transaction"))


class _Totals:
    """Counter totals kept in a dict and reported by observable counters when the SDK collects:
    a plain increment per operation instead of an SDK measurement (several microseconds each)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, dict[tuple[tuple[str, Any], ...], int]] = {n: {} for n, *_ in _COUNTERS}

    def add(self, name: str, amount: int, attrs: tuple[tuple[str, Any], ...]) -> None:
        values = self._values[name]
        with self._lock:
            values[attrs] = values.get(attrs, 0) + amount

    def callback(self, name: str):
        values = self._values[name]

        def observe(options: Any) -> list[Observation]:
            with self._lock:
                items = list(values.items())
            return [Observation(total, dict(attrs)) for attrs, total in items]

        return observe


class OTelObserver:
    """Spans and metrics for every ``ObservedOp``. Pass providers to use others than the global
    ones (tests do)."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        self.tracer = trace.get_tracer("ccs", _version, tracer_provider=tracer_provider)
        meter = metrics.get_meter("ccs", _version, meter_provider=meter_provider)
        self.totals = _Totals()
        for name, unit, description in _COUNTERS:
            meter.create_observable_counter(name, [self.totals.callback(name)], unit, description)
        self.duration = meter.create_histogram("ccs.operation.duration", "s",
                                               "duration of coordinator operations")

    def on_event(self, event: ObservedOp) -> None:
        op = event.operation
        add = self.totals.add
        base = (("ccs.operation", op),)
        if event.cache == HIT:
            add("ccs.cache.hits", 1, base)
            return
        if event.start_ns is not None and event.duration_s is not None:
            span = self.tracer.start_span(f"ccs.{op}", kind=SpanKind.INTERNAL,
                                          attributes=self._attributes(event), start_time=event.start_ns)
            if event.outcome == ERROR:
                span.set_status(Status(StatusCode.ERROR, event.error_code))
            span.end(end_time=event.start_ns + int(event.duration_s * 1e9))
        if event.cache == MISS:
            add("ccs.cache.misses", 1, base)
        elif event.cache == REVALIDATED:
            add("ccs.cache.revalidations", 1, base)
        if event.outcome == OK and op in _COMMITS:
            add("ccs.commits", 1, base)
        elif event.outcome == REFUSED:
            add("ccs.conflicts", 1, (*base, ("ccs.error.code", event.error_code or "")))
        if event.reclaims:
            add("ccs.reclaims", event.reclaims, base)
        if event.invalidations:
            add("ccs.invalidations.sent", event.invalidations, base)
        if event.bytes_in:
            add("ccs.bytes", event.bytes_in, (*base, ("ccs.direction", "in")))
        if event.bytes_out and event.outcome == OK:
            add("ccs.bytes", event.bytes_out, (*base, ("ccs.direction", "out")))
        if event.duration_s is not None:
            self.duration.record(event.duration_s, {"ccs.operation": op, "ccs.outcome": event.outcome})

    @staticmethod
    def _attributes(event: ObservedOp) -> dict[str, Any]:
        attrs: dict[str, Any] = {"ccs.operation": event.operation, "ccs.outcome": event.outcome}
        if event.artifacts:
            attrs["ccs.artifact"] = event.artifacts[0]
            if len(event.artifacts) > 1:
                attrs["ccs.artifacts"] = list(event.artifacts)
        if event.agent is not None:
            attrs["ccs.agent"] = event.agent_name or event.agent
            attrs["ccs.agent.id"] = event.agent
        for key, value in (("ccs.version.base", event.base_version), ("ccs.version.new", event.version),
                           ("ccs.epoch", event.epoch), ("ccs.error.code", event.error_code),
                           ("ccs.version.current", event.current_version), ("ccs.cache", event.cache)):
            if value is not None:
                attrs[key] = value
        if event.bytes_moved:
            attrs["ccs.bytes"] = event.bytes_moved
        if event.invalidations:
            attrs["ccs.invalidations"] = event.invalidations
        if event.reclaims:
            attrs["ccs.reclaims"] = event.reclaims
        return attrs


def instrument(target: Any, *, tracer_provider: Any = None, meter_provider: Any = None
               ) -> OTelObserver | None:
    """Register an ``OTelObserver`` on ``target`` (a ``Coordinator``, ``CoherenceAdapterCore`` or
    ``CCSStore``) and return it; None (and nothing registered) when ``CCS_TELEMETRY=0``."""
    if not enabled():
        return None
    observer = OTelObserver(tracer_provider, meter_provider)
    observers_of(target).append(observer)
    return observer


def uninstrument(target: Any) -> None:
    """Remove every ``OTelObserver`` from ``target``."""
    observers = observers_of(target)
    observers[:] = [o for o in observers if not isinstance(o, OTelObserver)]
