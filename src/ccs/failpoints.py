"""Named points in the code where tests inject faults: off by default, and free when off.

A call site reads ``if failpoints.active: failpoints.hit("name", **context)``, one attribute
check when nothing is armed. A test arms a point with a callback that may raise (a lost reply, a
dropped connection), run something in between (``gc()``, a sweep, a peer's commit), kill the
process, or return a value the call site acts on (``"drop"`` at ``bus.publish``).

Points (see the call sites):

``client.before_commit``    the agent computed its base version, the commit is not sent yet
``coordinator.stored``      the content is stored by hash, the record transaction not yet run
``coordinator.committed``   the record transaction committed and events were published; the
                            reply has not reached the agent (raising here is a lost reply)
``bus.publish``             events are about to be published; returning ``"drop"`` loses them
``engine.before_commit``    inside an engine transaction, the changes are computed, not written
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

POINTS = frozenset({
    "client.before_commit", "coordinator.stored", "coordinator.committed", "bus.publish",
    "engine.before_commit",
})

active = False
_armed: dict[str, Callable[..., Any]] = {}


def hit(name: str, **context: Any) -> Any:
    fn = _armed.get(name)
    return None if fn is None else fn(**context)


def arm(name: str, fn: Callable[..., Any]) -> None:
    global active
    if name not in POINTS:
        raise ValueError(f"unknown failpoint {name!r}; known: {', '.join(sorted(POINTS))}")
    _armed[name] = fn
    active = True


def disarm(name: str | None = None) -> None:
    global active
    if name is None:
        _armed.clear()
    else:
        _armed.pop(name, None)
    active = bool(_armed)


@contextmanager
def armed(points: dict[str, Callable[..., Any]]) -> Iterator[None]:
    for name, fn in points.items():
        arm(name, fn)
    try:
        yield
    finally:
        for name in points:
            disarm(name)
