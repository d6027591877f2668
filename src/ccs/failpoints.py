"""Named points in the code where a test can run its own code: interleavings and fault injection.

Production code calls ``hit(name)`` at a point worth reaching; with nothing armed that costs one
check of a module global. A test arms a callback for the duration of a ``with`` block::

    with failpoints.arm("backend.before_write", lambda **ctx: coord.gc(min_age=0), times=1):
        agent.write("plan", "v2")

The callback runs in the thread that reached the point, with the keyword arguments that point
passes (most pass none); whatever it raises propagates from there, which is how a fault is injected.
A callback's return value is returned by ``hit`` (``coordinator.before_fetch``
    a read or acquire has its view (from the record) and is about to fetch the content
``bus.publish`` drops the events when it
gets ``"drop"``). Points in the code:

``client.before_commit``
    an agent computed the base of its commit (version, epoch) and has not sent it yet
``coordinator.before_transact``
    the coordinator prepared a step (and its content) and is about to hand it to the engine
``backend.before_write``
    inside an engine transaction: the records were read and the changes computed, nothing written
``backend.gc.before_delete``
    inside garbage collection: the records were scanned, unreferenced content not yet deleted
``coordinator.before_fetch``
    a read or acquire has its view (from the record) and is about to fetch the content
``bus.publish``
    a transaction committed and its events are about to be published; on an engine whose bus
    carries them in the commit itself (``Bus.carrier``), reached inside the transaction just
    before it commits ("drop" leaves them out of the commit)
``coordinator.committed``
    a commit landed and its events went out; the reply has not reached the agent (raising here
    is a lost reply, which the agent resolves by the commit's idempotency id)
``effect.before_run`` / ``effect.after_run``
    a gated effect's intent is recorded pending; its side effect is about to run / has run and
    is not yet recorded done (``ccs.client.effects``)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

__all__ = ["arm", "armed", "hit"]

_armed: dict[str, Callable[..., Any]] | None = None  # None whenever nothing is armed: the fast path
_lock = threading.Lock()


def hit(name: str, **ctx: Any) -> Any:
    """Run the callback armed at ``name``, if any, and return what it returns."""
    if _armed is None:
        return None
    fn = _armed.get(name)
    return None if fn is None else fn(**ctx)


@contextmanager
def arm(name: str, fn: Callable[..., Any], *, times: int | None = None) -> Iterator[None]:
    """Run ``fn(**ctx)`` whenever a thread reaches ``name`` inside the block (at most ``times`` times)."""
    if times is not None:
        fn = _limited(fn, times)
    _set(name, fn)
    try:
        yield
    finally:
        _set(name, None)


@contextmanager
def armed(points: dict[str, Callable[..., Any]]) -> Iterator[None]:
    """``arm`` several points for the duration of one block."""
    with ExitStack() as stack:
        for name, fn in points.items():
            stack.enter_context(arm(name, fn))
        yield


def _limited(fn: Callable[..., Any], times: int) -> Callable[..., Any]:
    left = [times]
    lock = threading.Lock()

    def once(**ctx: Any) -> Any:
        with lock:
            if left[0] <= 0:
                return None
            left[0] -= 1
        return fn(**ctx)

    return once


def _set(name: str, fn: Callable[..., Any] | None) -> None:
    global _armed
    with _lock:
        armed = dict(_armed or {})
        if fn is None:
            armed.pop(name, None)
        elif name in armed:
            raise ValueError(f"failpoint {name!r} is already armed")
        else:
            armed[name] = fn
        _armed = armed or None
