"""PostgreSQL LISTEN/NOTIFY bus: ``postgresql://...?schema=ccs`` notifies on channel ``ccs_<schema>``.

Listeners in the publishing process hear a batch at once, in the publishing thread; other
processes hear it from a daemon thread holding a ``LISTEN`` connection. Notifications sent while
that connection is down are lost, so after every (re)connection the thread delivers a
``bus_reset`` event and the core revalidates every cached copy: an outage costs freshness, never
correctness. A NOTIFY payload is limited to 8000 bytes; a larger batch is split, and an event
with very many targets is sent as several copies with disjoint target lists.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace

import psycopg

from ccs.backends import redact_url
from ccs.backends.postgres import parse_postgres_url
from ccs.bus.base import Bus, Listener, Listeners, decode_batch, encode_batch, log, reset_event
from ccs.protocol.messages import Event

MAX_PAYLOAD = 7900
READY_WAIT = 5.0
POLL = 0.1  # seconds between checks of the stop flag while idle


def split_batches(origin: str, events: Sequence[Event], limit: int = MAX_PAYLOAD) -> list[bytes]:
    """Encode ``events`` as payloads of at most ``limit`` bytes each."""
    out: list[bytes] = []
    batch: list[Event] = []
    for event in events:
        pieces = [event]
        while len(encode_batch(origin, [pieces[-1]])) > limit and len(pieces[-1].targets) > 1:
            last = pieces.pop()
            half = len(last.targets) // 2
            pieces += [replace(last, targets=last.targets[:half]), replace(last, targets=last.targets[half:])]
            pieces.sort(key=lambda e: len(encode_batch(origin, [e])))
        for piece in pieces:
            if batch and len(encode_batch(origin, [*batch, piece])) > limit:
                out.append(encode_batch(origin, batch))
                batch = []
            batch.append(piece)
    if batch:
        out.append(encode_batch(origin, batch))
    return out


class PostgresBus(Bus):
    def __init__(self, url: str) -> None:
        self.url = url
        self.conninfo, schema, _ = parse_postgres_url(url)
        self.channel = f"ccs_{schema}"[:63]
        self.origin = uuid.uuid4().hex
        self._listeners = Listeners()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pub: psycopg.Connection | None = None
        self._pub_lock = threading.Lock()
        self.dropped = 0  # batches that could not be published (server away)
        self.resets = 0  # (re)connections, each announced to listeners as a bus_reset

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self._listeners.deliver(events)
        payloads = [p.decode() for p in split_batches(self.origin, events)]
        with self._pub_lock:
            for attempt in range(2):  # a pooled connection may have gone stale: one fresh try
                try:
                    if self._pub is None or self._pub.closed:
                        self._pub = psycopg.connect(self.conninfo, autocommit=True)
                    with self._pub.pipeline():
                        for payload in payloads:
                            self._pub.execute("SELECT pg_notify(%s, %s)", (self.channel, payload))
                    return
                except psycopg.Error as exc:
                    self._close_pub()
                    if attempt == 1:
                        self.dropped += 1
                        log.warning("%s: invalidation not published (%s)", redact_url(self.url), exc)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        remove = self._listeners.add(listener)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ccs-postgres-bus", daemon=True)
                self._thread.start()
        self._ready.wait(READY_WAIT)
        return remove

    def _run(self) -> None:
        delay = 0.05
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True) as conn:
                    conn.execute(f'LISTEN "{self.channel}"')
                    self.resets += 1
                    self._ready.set()
                    delay = 0.05
                    self._listeners.deliver([reset_event("postgres bus listening")])
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=POLL):
                            self._on_payload(note.payload)
                            if self._stop.is_set():
                                break
            except psycopg.Error as exc:
                if self._stop.is_set():
                    return
                log.info("%s: bus connection lost (%s); reconnecting", redact_url(self.url), exc)
            self._stop.wait(delay)
            delay = min(delay * 2, 1.0)

    def _on_payload(self, payload: str) -> None:
        try:
            origin, events = decode_batch(payload)
        except (ValueError, KeyError, TypeError):
            log.warning("%s: undecodable bus message dropped", redact_url(self.url))
            return
        if origin != self.origin:
            self._listeners.deliver(events)

    def _close_pub(self) -> None:
        if self._pub is not None:
            with contextlib.suppress(psycopg.Error):
                self._pub.close()
            self._pub = None

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        with self._pub_lock:
            self._close_pub()
