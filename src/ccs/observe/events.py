"""What an observer is told: one ``ObservedOp`` per operation, after it ended.

Pure data and dispatch, no third-party imports: the coordinator and the agent import this module;
the OpenTelemetry and LangSmith observers (``ccs.observe.otel``, ``ccs.observe.langsmith``) import
their libraries and are imported only by the application.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ccs import killswitch

log = logging.getLogger("ccs.observe")

OPERATIONS = ("read", "acquire", "write", "commit", "commit_cas", "transaction", "release", "evict",
              "heartbeat", "sweep", "gc")
OK, REFUSED, ERROR = "ok", "refused", "error"
HIT, MISS, REVALIDATED = "hit", "miss", "revalidated"


@dataclass(frozen=True, slots=True)
class ObservedOp:
    """One operation as it happened.

    ``outcome`` is ``ok``, ``refused`` (a typed conflict: the write was derived from a stale view,
    lost a race or was fenced; nothing was applied) or ``error`` (anything else), with the error's
    stable ``error_code``. ``base_version`` is the version the request was derived from (the
    expected version of a CAS, the known version of a read); ``version`` the version committed or
    served; on a refusal ``current_version`` is the version that won. ``cache`` is ``hit`` (served
    from the agent's copy: no engine call), ``miss`` (content moved) or ``revalidated`` (checked
    with the engine, copy current, no content moved); None where it does not apply.
    ``bytes_in`` is content moved to the agent, ``bytes_out`` content sent to the engine.
    ``invalidations`` counts the agents this operation's events told to drop their copies (sent
    on the bus), ``reclaims`` the grants crash recovery reclaimed. ``duration_s`` is None for a
    cache hit (nothing but a dict lookup ran). ``extra`` holds operation-specific detail (a
    transaction's read and written versions, the reasons of reclaims, a commit id).
    """

    operation: str
    artifacts: tuple[str, ...] = ()
    agent: str | None = None
    agent_name: str | None = None
    base_version: int | None = None
    version: int | None = None
    epoch: int | None = None
    outcome: str = OK
    error_code: str | None = None
    current_version: int | None = None
    duration_s: float | None = None
    start_ns: int | None = None  # wall clock (time.time_ns) when the operation started
    bytes_in: int = 0
    bytes_out: int = 0
    cache: str | None = None
    invalidations: int = 0
    reclaims: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def artifact(self) -> str | None:
        return self.artifacts[0] if self.artifacts else None

    @property
    def bytes_moved(self) -> int:
        return self.bytes_in + self.bytes_out

    def to_dict(self) -> dict[str, Any]:
        return {name: (dict(v) if isinstance(v := getattr(self, name), Mapping)
                       else list(v) if isinstance(v, tuple) else v)
                for name in self.__dataclass_fields__}


@runtime_checkable
class Observer(Protocol):
    """Anything with ``on_event(event)``. Called synchronously in the thread that ran the
    operation, after it ended (so ``contextvars`` such as a current trace span are the caller's).
    Keep it cheap; an exception it raises is logged and dropped, never the operation's."""

    def on_event(self, event: ObservedOp) -> None: ...


def dispatch(observers: Sequence[Observer], event: ObservedOp) -> None:
    for observer in observers:
        try:
            observer.on_event(event)
        except Exception:
            log.exception("observer %r failed on %s; ignored", observer, event.operation)


def telemetry_enabled() -> bool:
    """False when ``CCS_TELEMETRY`` is off (0 / false / no): the ready-made observers'
    ``instrument`` then registers nothing (and says so in the log; a coordinator built while it is
    off would drop the observer anyway, see ``MutedObservers``). ``InvalidSwitch`` on a typo."""
    if killswitch.telemetry_enabled():
        return True
    log.info("CCS_TELEMETRY is off: instrument() registered no observer")
    return False


class MutedObservers(list):
    """The observer list of a coordinator built with ``CCS_TELEMETRY=0``: whatever is registered
    on it (``instrument()``, or an observer appended by hand) is dropped and logged, so it stays
    empty and every operation costs what it costs with no observer."""

    def _drop(self, observers: Any) -> None:
        for observer in observers:
            log.info("CCS_TELEMETRY is off: observer %r not registered", observer)

    def append(self, observer: Any) -> None:
        self._drop([observer])

    def insert(self, index: Any, observer: Any) -> None:
        self._drop([observer])

    def extend(self, observers: Any) -> None:
        self._drop(list(observers))

    def __iadd__(self, observers: Any) -> MutedObservers:
        self._drop(list(observers))
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        self._drop(list(value) if isinstance(index, slice) else [value])


def observer_list() -> list[Observer]:
    """A new coordinator's observer list: muted when ``CCS_TELEMETRY`` is off (read now, once;
    ``InvalidSwitch`` on a typo)."""
    return [] if killswitch.telemetry_enabled() else MutedObservers()
