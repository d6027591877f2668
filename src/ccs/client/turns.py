"""Turns: the ``write_cas`` calls of one process on one artifact take turns instead of racing.

Why. Threads of one process that run read -> fn -> compare-and-set on one artifact interleave
wherever the interpreter switches threads (every 5 ms, at any bytecode): a thread switched out
between its read and its commit comes back to a moved version and its commit is refused; a thread
switched out while holding an engine lock makes the others block on that lock, and the lock's
owner then changes at every release (the woken waiter owns it before the releaser comes back), so
every later commit changes threads and most of them are refused (a lock convoy). With ``retries``
small, such runs end in ``RetriesExhausted`` although the process itself did nothing slow.

What. A ``write_cas`` first takes its artifact's turn (``Turn``), and gives it back when it returns
or raises; the compare-and-set inside is unchanged and still decides: a turn only orders this
process's own attempts, so nothing here can make a stale write land. A waiter sleeps (it does not
hold the interpreter lock, so it does not force the holder to switch out mid-call either) until:

* the holder leaves while it waits: it is woken and competes for the turn (``nudge``);
* it has waited ``SLICE`` seconds: the holder, leaving, hands the turn to it directly (the oldest
  waiter first), so threads take turns of about ``SLICE`` each rather than one per call, and a
  thread that keeps calling cannot keep the others out;
* it has waited ``WAIT`` seconds (a slow ``fn``, a holder blocked on this thread): it goes ahead
  without the turn, optimistically, as every ``write_cas`` did before turns existed. So a slow or
  blocking ``fn`` can delay a peer by at most ``WAIT``, never deadlock it.

A ``write_cas`` nested in the holder's own ``fn`` (same thread, same artifact) runs without waiting.
Other processes, and calls that went ahead after ``WAIT``, race as before: the engine's check is
what makes one of them win.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque

SLICE = 0.002  # how long a waiter waits before the holder hands it the turn
WAIT = 0.05  # how long a waiter waits in all before it goes ahead without the turn
KEPT = 4096  # turns remembered per core (cleared when full: a dropped turn only races again)

_monotonic = time.monotonic


class Turn:
    """One artifact's turn. ``lock`` is held by whoever has the turn (``owner``: its thread);
    it changes hands only by a non-blocking ``acquire`` of a running thread or by a hand-over
    (``leave``), never by the wake-up of a sleeping waiter, which is what prevents a convoy."""

    __slots__ = ("lock", "owner", "waiting")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner = 0
        self.waiting: deque[_Waiter] = deque()


class _Waiter:
    __slots__ = ("handed", "ident", "nudged", "since", "wake")

    def __init__(self, ident: int, since: float) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()  # armed: released by a nudge or a hand-over
        self.ident = ident
        self.since = since
        self.handed = False
        self.nudged = False


def turn(turns: dict[str, Turn], artifact_id: str) -> Turn:
    """The turn of ``artifact_id`` (made on first use; one object per artifact while kept)."""
    t = turns.get(artifact_id)
    if t is None:
        if len(turns) >= KEPT:
            turns.clear()
        t = turns.setdefault(artifact_id, Turn())
    return t


def wait(t: Turn, me: int) -> bool:
    """Wait for the turn, which was taken when the caller tried it. True: the caller has it now
    (and must ``leave``); False: go ahead without it (nested in the holder's own call, or waited
    ``WAIT``)."""
    if t.owner == me:
        return False  # our own fn calls write_cas on the artifact: already our turn
    start = _monotonic()
    w = _Waiter(me, start)
    t.waiting.append(w)
    deadline = start + WAIT
    try:
        while True:
            if t.lock.acquire(False):  # free (its holder left without handing it over)
                t.owner = me
                t.waiting.remove(w)  # only the turn's holder takes waiters out: still there
                return True
            left = deadline - _monotonic()
            if left <= 0:
                try:
                    t.waiting.remove(w)
                except ValueError:  # handed over to us just now: ours
                    w.wake.acquire()
                    return True
                return False
            if w.wake.acquire(timeout=min(left, 0.005)):  # (a safety net's period, not a poll)
                if w.handed:
                    return True
                w.nudged = False  # re-armed: the next leave may nudge us again
    except BaseException:
        _abandon(t, w)
        raise


def _abandon(t: Turn, w: _Waiter) -> None:
    """An exception (KeyboardInterrupt) ended the wait: pass on a turn handed to us meanwhile."""
    try:
        t.waiting.remove(w)
    except ValueError:
        if w.handed or t.owner == w.ident:
            leave(t)


def leave(t: Turn) -> None:
    """Give the turn back: to the oldest waiter if it has waited ``SLICE``, else to whoever takes
    it first, waking the oldest waiter to compete."""
    q = t.waiting
    try:
        w = q[0]
    except IndexError:
        w = None
    if w is not None and _monotonic() - w.since >= SLICE:
        try:
            w = q.popleft()
        except IndexError:
            w = None
        if w is not None:
            t.owner = w.ident
            w.handed = True
            _release(w.wake)
            return
    t.owner = 0
    t.lock.release()
    nudge(t)


def nudge(t: Turn) -> None:
    """Wake the oldest waiter (once until it sleeps again) to compete for a free turn."""
    try:
        w = t.waiting[0]
    except IndexError:
        return
    if not w.nudged:
        w.nudged = True
        _release(w.wake)


def _release(lock: threading.Lock) -> None:
    with contextlib.suppress(RuntimeError):  # already released (a nudge, then a hand-over):
        lock.release()  # the waiter wakes anyway
