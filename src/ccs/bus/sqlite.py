"""Cross-process bus for the SQLite engine: an events table that every process polls.

Publishing appends rows; listeners in the publishing process hear them at once, and a daemon
thread in each process polls for rows written by other processes every ``interval`` seconds.
Rows older than ``retain`` seconds' worth of polling are trimmed by whoever publishes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence

from ccs.bus.base import Bus, Listener
from ccs.protocol.messages import Event

TRIM_EVERY = 512
KEEP_ROWS = 20_000


class SqliteBus(Bus):
    def __init__(self, backend, interval: float = 0.02) -> None:
        self.backend = backend
        self.url = backend.url
        self.interval = interval
        self._listeners: tuple[Listener, ...] = ()
        self._lock = threading.Lock()
        self._cursor = backend.last_event_seq()
        self._published = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self.backend.append_events([json.dumps(e.to_dict(), separators=(",", ":")) for e in events])
        for event in events:
            for listener in self._listeners:
                listener(event)
        self._published += len(events)
        if self._published >= TRIM_EVERY:
            self._published = 0
            self.backend.trim_events(self.backend.last_event_seq() - KEEP_ROWS)

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
            rows = self.backend.events_after(self._cursor)
            if rows:
                self._cursor = rows[-1][0]
        for _, body in rows:
            event = Event.from_dict(json.loads(body))
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
