"""PostgreSQL LISTEN/NOTIFY bus: ``postgresql://...?schema=ccs`` notifies on channel ``ccs_<schema>``.

See ``ccs.bus.remote`` for delivery, resets after reconnection and why publishing never raises.
A NOTIFY payload is limited to 8000 bytes; a larger batch is split, and an event with very many
targets is sent as several copies with disjoint target lists.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence

import psycopg
from msgspec.structs import replace

from ccs.backends.postgres import PostgresBackend, parse_postgres_url
from ccs.bus.base import encode_batch
from ccs.bus.remote import POLL, PollingBus
from ccs.protocol.messages import Event

MAX_PAYLOAD = 7900


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


class PostgresBus(PollingBus):
    thread_name = "ccs-postgres-bus"
    transport_errors = (psycopg.Error,)

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.conninfo, schema, _ = parse_postgres_url(url)
        self.channel = f"ccs_{schema}"[:63]
        self._pub: psycopg.Connection | None = None
        self._pub_lock = threading.Lock()

    def carrier(self, backend: object) -> Callable[[Sequence[Event]], list[tuple[str, str]]] | None:
        """On the store this bus listens on, a commit's events are notified by its own
        transaction (PostgreSQL delivers them at COMMIT, and only if it commits)."""
        if not (isinstance(backend, PostgresBackend) and backend.url == self.url):
            return None
        return lambda events: [(self.channel, p.decode()) for p in split_batches(self.origin, events)]

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self.deliver_local(events)
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
                        self._publish_failed(exc)

    def _listen(self) -> None:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(f'LISTEN "{self.channel}"')
            self._subscribed("postgres bus listening")
            while not self._stop.is_set():
                for note in conn.notifies(timeout=POLL):
                    self._received(note.payload)
                    if self._stop.is_set():
                        break

    def _close_pub(self) -> None:
        if self._pub is not None:
            with contextlib.suppress(psycopg.Error):
                self._pub.close()
            self._pub = None

    def close(self) -> None:
        super().close()
        with self._pub_lock:
            self._close_pub()
