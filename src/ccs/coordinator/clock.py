"""Injected clocks. The protocol never reads time; the coordinator asks one of these."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    """Wall-clock seconds, comparable across processes and hosts (TTLs must be far above skew).

    ``now`` is ``time.time`` itself: every operation reads the clock, and this way a reading is
    a C call, not a Python frame around one."""

    now = staticmethod(time.time)


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, t: float) -> None:
        self._now = t
