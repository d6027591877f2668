"""How the coordinator reports its operations: ``@observed("commit")`` on each public operation.

With no observer registered the wrapper does one truthiness check of ``coordinator.observers``
and calls the operation; a caller on the hot path (the agent's reads and commits) makes that
check itself and calls the operation undecorated (``unobserved``), saving the wrapper's frame.
With observers it times the operation, collects the events its transactions published
(``note_events``, called by ``Coordinator._run``), and dispatches one ``ObservedOp`` whether the
operation succeeded, was refused or failed; the operation's result or exception is passed
through unchanged.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ccs.observe.events import ERROR, MISS, OK, REFUSED, REVALIDATED, ObservedOp, dispatch, log
from ccs.protocol.errors import CoherenceError, ConflictError
from ccs.protocol.ids import agent_name
from ccs.protocol.messages import Committed, Event, ReclaimNote, TxnCommitted, View

F = TypeVar("F", bound=Callable[..., Any])
_local = threading.local()


def note_events(events: list[Event]) -> None:
    """Events an observed operation's transaction published (counted as invalidations sent)."""
    sink = getattr(_local, "events", None)
    if sink is not None:
        sink.extend(events)


def observed(operation: str) -> Callable[[F], F]:
    request = _REQUESTS[operation]

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.observers:
                return method(self, *args, **kwargs)
            return _run_observed(self, operation, request, method, args, kwargs)

        wrapper.unobserved = method  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def unobserved(obj: Any, name: str) -> Callable[..., Any]:
    """``obj.<name>`` without its ``@observed`` wrapper, for a caller that calls it only while
    ``obj.observers`` is empty (and ``obj.<name>`` otherwise): what the wrapper would do then.
    An operation that is not an observed one (a subclass's own, or one set on the instance) is
    returned as it is, so the caller still goes through it."""
    bound = getattr(obj, name)
    method = getattr(getattr(type(obj), name, None), "unobserved", None)
    if method is None or name in getattr(obj, "__dict__", {}):
        return bound
    return method.__get__(obj, type(obj))


def _run_observed(coordinator: Any, operation: str, request: Callable[..., dict[str, Any]],
                  method: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    outer = getattr(_local, "events", None)
    _local.events = sent = []
    start_ns = time.time_ns()
    t0 = time.perf_counter()
    try:
        result = method(coordinator, *args, **kwargs)
    except CoherenceError as exc:
        fields = {"outcome": REFUSED if isinstance(exc, ConflictError) else ERROR,
                  "error_code": exc.code, "current_version": exc.current_version,
                  "epoch": exc.current_epoch}
        _emit(coordinator, operation, request, args, kwargs, fields, sent, start_ns, t0)
        raise
    except Exception as exc:
        _emit(coordinator, operation, request, args, kwargs,
              {"outcome": ERROR, "error_code": type(exc).__name__}, sent, start_ns, t0)
        raise
    finally:
        _local.events = outer
    _emit(coordinator, operation, request, args, kwargs, _result_fields(result), sent, start_ns, t0)
    return result


def _emit(coordinator: Any, operation: str, request: Callable[..., dict[str, Any]], args: tuple,
          kwargs: dict, fields: dict[str, Any], sent: list[Event], start_ns: int, t0: float) -> None:
    duration = time.perf_counter() - t0
    try:
        req = request(*args, **kwargs)
    except Exception:  # the call's own arguments were wrong: it raised, report what we can
        req = {}
    agent = req.get("agent")
    if isinstance(agent, str):
        req["agent_name"] = agent_name(agent)
    elif agent is not None:
        req["agent"] = None
    extra = {**req.pop("extra", {}), **fields.pop("extra", {})}
    try:
        event = ObservedOp(operation, duration_s=duration, start_ns=start_ns, extra=extra,
                           invalidations=sum(len(e.targets) for e in sent if e.kind == "invalidate"),
                           **req, **fields)
    except Exception:
        log.exception("could not describe %s for observers", operation)
        return
    dispatch(coordinator.observers, event)


def _result_fields(result: Any) -> dict[str, Any]:
    if isinstance(result, Committed):
        return {"outcome": OK, "version": result.version, "epoch": result.epoch,
                "extra": {"duplicate": True} if result.duplicate else {}}
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], View):
        view, data = result
        return {"outcome": OK, "version": view.version, "epoch": view.epoch,
                "bytes_in": 0 if data is None else len(data),
                "cache": MISS if view.modified else REVALIDATED}
    if isinstance(result, TxnCommitted):
        return {"outcome": OK, "extra": {"written": {a: c.version for a, c in result.versions.items()},
                                         "duplicate": result.duplicate}}
    if isinstance(result, list) and all(isinstance(n, ReclaimNote) for n in result):
        return {"outcome": OK, "reclaims": len(result), "artifacts": tuple(n.artifact for n in result),
                "extra": {"reclaimed": [{"agent": n.agent, "artifact": n.artifact,
                                         "new_epoch": n.new_epoch, "reason": n.reason}
                                        for n in result]}}
    if isinstance(result, int) and not isinstance(result, bool):  # gc
        return {"outcome": OK, "extra": {"deleted_blobs": result}}
    return {"outcome": OK}


def _size(payload: Any) -> int:
    return len(payload[0]) if isinstance(payload, tuple) and payload else 0


# --- what each operation's arguments say (same signatures as the Coordinator methods) ----------

def _read(agent, artifact_id, known_version=None, invalidated=False):
    return {"agent": agent, "artifacts": (artifact_id,), "base_version": known_version}


def _commit(agent, artifact_id, grant_epoch, base_version, payload, commit_id=None, new_id=False):
    return {"agent": agent, "artifacts": (artifact_id,), "base_version": base_version,
            "bytes_out": _size(payload), "extra": {"commit_id": commit_id}}


def _write(agent, artifact_id, base_version, base_epoch, payload, commit_id=None, new_id=False):
    return {"agent": agent, "artifacts": (artifact_id,), "base_version": base_version,
            "bytes_out": _size(payload), "extra": {"commit_id": commit_id, "blind": base_version is None}}


def _commit_cas(agent, artifact_id, expected_version, read_epoch, payload, commit_id=None,
                new_id=False):
    return {"agent": agent, "artifacts": (artifact_id,), "base_version": expected_version,
            "bytes_out": _size(payload), "extra": {"commit_id": commit_id}}


def _transaction(agent, reads, writes, commit_id=None):
    return {"agent": agent, "artifacts": tuple(sorted(set(reads) | set(writes))),
            "bytes_out": sum(_size(p) for p in writes.values()),
            "extra": {"commit_id": commit_id, "read": {a: v[0] for a, v in reads.items()}}}


def _agent_artifact(agent, artifact_id):
    return {"agent": agent, "artifacts": (artifact_id,)}


def _heartbeat(agent):
    return {"agent": agent}


def _none(*args, **kwargs):
    return {}


_REQUESTS: dict[str, Callable[..., dict[str, Any]]] = {
    "read": _read, "acquire": _read, "commit": _commit, "write": _write, "commit_cas": _commit_cas,
    "transaction": _transaction, "release": _agent_artifact, "evict": _agent_artifact,
    "heartbeat": _heartbeat, "sweep": _none, "gc": _none,
}
