"""Cross-process bus for the SQLite engine: an events table that every process polls.

Publishing appends rows; listeners in the publishing process hear them at once, and a daemon
thread in each process polls for rows written by other processes every ``interval`` seconds.
Whoever publishes trims the table to its last ``keep_rows`` rows. Row numbers have no holes (one
writer at a time, AUTOINCREMENT), so a poller that finds the next row it expected trimmed away
(a process that slept, or fell behind) knows it missed events and delivers a reset: every cached
copy is revalidated, as after a networked bus reconnects.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence

from ccs.bus.base import Bus, Listener, reset_event
from ccs.protocol.messages import Event

TRIM_EVERY = 512
KEEP_ROWS = 20_000


class SqliteBus(Bus):
    def __init__(self, backend, interval: float = 0.02, keep_rows: int = KEEP_ROWS) -> None:
        self.backend = backend
        self.url = backend.url
        self.interval = interval
        self.keep_rows = keep_rows
        self._listeners: tuple[Listener, ...] = ()
        self._lock = threading.Lock()
        self._cursor = backend.last_event_seq()
        self._published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def carrier(self, backend: object) -> Callable[[Sequence[Event]], list[str]] | None:
        """On its own store, a commit's events are rows written by the commit's transaction."""
        return _rows if backend is self.backend else None

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self.backend.append_events(_rows(events))
        self.deliver_local(events)

    def deliver_local(self, events: Sequence[Event]) -> None:
        for event in events:
            for listener in self._listeners:
                listener(event)
        self._published += len(events)
        if self._published >= min(TRIM_EVERY, self.keep_rows):
            self._published = 0
            self.backend.trim_events(self.backend.last_event_seq() - self.keep_rows)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners = (*self._listeners, listener)
            if self._thread is None and self.interval > 0:
                self._thread = threading.Thread(target=self._run, name="ccs-sqlite-bus", daemon=True)
                self._thread.start()

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe

    def poll(self) -> None:
        with self._lock:
            expected = self._cursor + 1
            rows = self.backend.events_after(self._cursor)
            if rows:
                self._cursor = rows[-1][0]
        events = [Event.from_dict(json.loads(body)) for _, body in rows]
        if rows and rows[0][0] > expected:
            missed = rows[0][0] - expected
            events.insert(0, reset_event(f"{missed} event(s) trimmed before this process read them"))
        for event in events:
            for listener in self._listeners:
                listener(event)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll()
            except Exception:
                if self._stop.is_set():
                    return

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)


def _rows(events: Sequence[Event]) -> list[str]:
    return [json.dumps(e.to_dict(), separators=(",", ":")) for e in events]
