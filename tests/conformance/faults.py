"""A seeded fault plan for the fault-injection suite: at each failpoint the code passes, inject one
of the faults allowed there with some probability, and count what was injected.

Faults: ``gc`` (a full ``gc(min_age=0)`` in between), ``sweep`` (every agent's heartbeat runs
out and a sweep reclaims their grants: the clock jumps past the TTL), ``lose_reply`` (the commit
landed, its reply is lost: the client must resolve it by commit id), ``fail_before_commit`` (the
connection drops before anything was written), ``drop_events`` (the bus loses the invalidations).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ccs import failpoints
from ccs.history import Recorder, workload
from ccs.protocol.errors import BackendUnavailable, OutcomeUnknown

TOTALS: Counter[str] = Counter()  # every fault injected in this test session, for the summary
HISTORIES = [0]  # histories checked in this session

ACTIONS = {
    "client.before_commit": ("gc", "sweep"),
    "coordinator.before_transact": ("gc", "sweep"),
    "backend.before_write": ("fail_before_commit",),
    "coordinator.committed": ("lose_reply", "gc"),
    "bus.publish": ("drop_events",),
}


MAX_FAILURE_STREAK = 2  # injected failures in a row per thread (CoherenceAdapterCore retries 3 times)


class InjectedFault(BackendUnavailable):
    """A connection this suite dropped before anything was written: retryable."""


class InjectedLostReply(OutcomeUnknown):
    """A reply this suite dropped after the commit landed: the client must settle it by its id."""


@dataclass
class FaultPlan:
    seed: int
    probability: float
    core: Any  # the core whose coordinator runs gc and sweeps
    clock: Any
    ttl: float
    recorder: Recorder
    points: tuple[str, ...] = tuple(ACTIONS)
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._busy = threading.local()  # no fault inside a fault's own engine calls

    def _pick(self, point: str) -> str | None:
        with self._lock:
            self.counts[f"passed {point}"] += 1
            if self._rng.random() >= self.probability:
                return None
            return self._rng.choice(ACTIONS[point])

    def _fire(self, point: str, **context: Any) -> Any:
        if point == "coordinator.committed":  # this thread's commit got through
            self._busy.streak = 0
        if getattr(self._busy, "on", False):
            return None
        action = self._pick(point)
        if action is None:
            return None
        if action == "lose_reply" and getattr(context.get("reply"), "duplicate", False):
            return None  # the retry that resolves a lost reply gets through
        if action == "fail_before_commit":
            streak = getattr(self._busy, "streak", 0)
            # The client's retries are bounded: after a streak, none until a commit gets through.
            # (An engine may pass this point more than once per client attempt: a speculative
            # commit that finds the record changed decides and writes again.)
            if streak >= MAX_FAILURE_STREAK:
                return None
            self._busy.streak = streak + 1
        with self._lock:
            self.counts[action] += 1
            TOTALS[action] += 1
        self._busy.on = True
        try:
            return self._do(action)
        finally:
            self._busy.on = False

    def _do(self, action: str) -> Any:
        if action == "gc":
            self.core.coordinator.gc(min_age=0)
        elif action == "sweep":
            self.clock.advance(self.ttl + 1)
            workload.sweep(self.core, self.recorder)
        elif action == "lose_reply":
            raise InjectedLostReply("injected: the commit landed but its reply was lost")
        elif action == "fail_before_commit":
            raise InjectedFault("injected: the connection dropped before the commit was sent")
        elif action == "drop_events":
            return "drop"
        return None

    def __enter__(self) -> FaultPlan:
        self._armed = failpoints.armed(
            {point: lambda point=point, **ctx: self._fire(point, **ctx) for point in self.points})
        self._armed.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._armed.__exit__(*exc)


def killed_worker(url: str, name: str, history_path: str, aid: str, ops: int, seconds: float,
                  start, point: str | None, nth: int) -> None:
    """``workload.process_worker``, SIGKILLed by itself the ``nth`` time it passes ``point``."""
    import os
    import signal

    if point is not None:
        hits = [0]

        def die(**_: Any) -> None:
            hits[0] += 1
            if hits[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)

        with failpoints.arm(point, die):
            workload.process_worker(url, name, history_path, aid, ops, seconds, start)
    else:
        workload.process_worker(url, name, history_path, aid, ops, seconds, start)
