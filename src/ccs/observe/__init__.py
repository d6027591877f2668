"""Observing what the coordinator and its agents did.

Register any object with ``on_event(event: ObservedOp)`` on a coordinator (or a core, which
shares its coordinator's list)::

    core.observers.append(my_observer)

Each coordinator operation (read, acquire, write, commit, commit_cas, transaction, release, evict,
heartbeat, sweep, gc) reports one ``ObservedOp`` when it ends, ok, refused or failed; an agent
reports its cache hits (reads served without an engine call). With no observer registered each
site costs one truthiness check. An observer's exception is logged and dropped.
With ``CCS_TELEMETRY=0`` when a coordinator is built, nothing can be registered on it
(``events.MutedObservers``; docs/kill-switches.md).

Ready-made observers, each behind its own extra:

- ``ccs.observe.otel.instrument(core_or_coordinator)``: OpenTelemetry spans and metrics
  (``pip install agent-coherence[otel]``);
- ``ccs.observe.langsmith.instrument(core_or_coordinator)``: coherence metadata on the current
  LangSmith run (``pip install agent-coherence[langsmith]``).
"""

from ccs.observe.events import (
    ERROR,
    HIT,
    MISS,
    OK,
    OPERATIONS,
    REFUSED,
    REVALIDATED,
    ObservedOp,
    Observer,
    dispatch,
)

__all__ = ["ERROR", "HIT", "MISS", "OK", "OPERATIONS", "REFUSED", "REVALIDATED", "ObservedOp",
           "Observer", "dispatch", "observers_of"]


def observers_of(target: object) -> list[Observer]:
    """The observer list of a ``Coordinator``, or of anything holding one as ``.coordinator``
    (``CoherenceAdapterCore``, ``CCSStore.core``, ...). ``CCSStore`` is accepted too."""
    for obj in (target, getattr(target, "coordinator", None), getattr(target, "core", None),
                getattr(getattr(target, "core", None), "coordinator", None)):
        observers = getattr(obj, "observers", None)
        if isinstance(observers, list):
            return observers
    raise TypeError(f"{type(target).__name__} has no coordinator to observe")
