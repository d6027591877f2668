"""LangSmith: coherence metadata on the run that is being traced.

``instrument(core_or_coordinator_or_store)`` registers a ``LangSmithObserver``. Whenever an
operation runs inside a traced LangSmith run (a LangGraph node or any ``@traceable`` function,
traced with ``LANGSMITH_TRACING=true``), the versions it read and wrote and the writes that were
refused are added to that run's metadata under ``"ccs"``::

    {"ccs": {"reads": [{"artifact": "lg/...", "agent": "planner", "version": 1, "cache": "miss"}],
             "writes": [{"artifact": "lg/...", "agent": "critic", "operation": "commit_cas",
                         "base": 1, "version": 2}],
             "refusals": [{"artifact": "lg/...", "agent": "planner", "operation": "commit_cas",
                           "code": "version_conflict", "base": 1, "current": 2}],
             "counts": {"reads": 1, "writes": 1, "refusals": 1}}}

The metadata travels with the run's update (the PATCH sent when the run ends). Outside a traced
run nothing happens. Each list keeps its first ``MAX_ENTRIES`` entries; ``counts`` counts all.
A ``CCSStore`` put from a stale view shows up here as the ``commit_cas`` that was refused
(``version_conflict``); the store raises it to the node as ``StaleView``. ``CCS_TELEMETRY=0``
makes ``instrument`` do nothing. Needs ``langsmith`` (``pip install agent-coherence[langsmith]``).
"""

from __future__ import annotations

import threading
from typing import Any

try:
    from langsmith.run_helpers import get_current_run_tree
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(f"ccs.observe.langsmith needs {exc.name}: pip install 'agent-coherence[langsmith]'"
                      ) from exc

from ccs.observe import observers_of
from ccs.observe.events import OK, REFUSED, ObservedOp
from ccs.observe.events import telemetry_enabled as enabled

__all__ = ["MAX_ENTRIES", "LangSmithObserver", "instrument", "uninstrument"]

MAX_ENTRIES = 50
_READS = ("read", "acquire")
_WRITES = ("write", "commit", "commit_cas", "transaction")


class LangSmithObserver:
    def __init__(self) -> None:
        self._lock = threading.Lock()  # threads of one traced run may share it

    def on_event(self, event: ObservedOp) -> None:
        op, outcome = event.operation, event.outcome
        if outcome == REFUSED:
            kind = "refusals"
        elif outcome == OK and op in _READS:
            kind = "reads"
        elif outcome == OK and op in _WRITES:
            kind = "writes"
        else:
            return
        run = get_current_run_tree()
        if run is None:
            return
        with self._lock:
            self._attach(run, kind, event)

    @staticmethod
    def _attach(run: Any, kind: str, event: ObservedOp) -> None:
        if run.extra is None:
            run.extra = {}
        ccs = run.extra.setdefault("metadata", {}).setdefault(
            "ccs", {"reads": [], "writes": [], "refusals": [],
                    "counts": {"reads": 0, "writes": 0, "refusals": 0}})
        ccs["counts"][kind] += 1
        if len(ccs[kind]) < MAX_ENTRIES:
            ccs[kind].append(_entry(event, kind))


def _entry(event: ObservedOp, kind: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"artifact": event.artifact, "agent": event.agent_name or event.agent}
    if len(event.artifacts) > 1:
        entry["artifacts"] = list(event.artifacts)
    if kind == "reads":
        entry.update(version=event.version, epoch=event.epoch, cache=event.cache)
    elif kind == "writes":
        entry.update(operation=event.operation, base=event.base_version, version=event.version,
                     epoch=event.epoch)
        if "written" in event.extra:
            entry["written"] = dict(event.extra["written"])
    else:
        entry.update(operation=event.operation, code=event.error_code, base=event.base_version,
                     current=event.current_version)
    return entry


def instrument(target: Any) -> LangSmithObserver | None:
    """Register a ``LangSmithObserver`` on ``target`` (``Coordinator``, ``CoherenceAdapterCore`` or
    ``CCSStore``) and return it; None (nothing registered) when ``CCS_TELEMETRY=0``."""
    if not enabled():
        return None
    observer = LangSmithObserver()
    observers_of(target).append(observer)
    return observer


def uninstrument(target: Any) -> None:
    observers = observers_of(target)
    observers[:] = [o for o in observers if not isinstance(o, LangSmithObserver)]
