"""What the networked buses (Redis, PostgreSQL, NATS) share.

Each publishes a batch as one message tagged with its process's ``origin``. Listeners in the
publishing process hear the batch at once, in the publishing thread; other processes hear it from
a background thread, and a process ignores its own messages when they come back. A networked bus
keeps nothing for an absent subscriber, so after every (re)subscription it delivers a
``bus_reset`` event and the core revalidates every cached copy: an outage costs freshness, never
correctness. Publishing never raises: the commit already landed.
"""

from __future__ import annotations

import threading
import uuid
from abc import abstractmethod
from collections.abc import Callable, Sequence

from ccs.backends import redact_url
from ccs.bus.base import Bus, Listener, Listeners, decode_batch, log, reset_event
from ccs.protocol.messages import Event

READY_WAIT = 5.0
POLL = 0.1  # seconds between checks of the stop flag while idle


class RemoteBus(Bus):
    def __init__(self, url: str) -> None:
        self.url = url
        self.origin = uuid.uuid4().hex
        self._listeners = Listeners()
        self.dropped = 0  # batches that could not be published (server away)
        self.resets = 0  # (re)subscriptions, each announced to listeners as a bus_reset

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self._listeners.add(listener)

    def deliver_local(self, events: Sequence[Event]) -> None:
        self._listeners.deliver(events)

    def _hand_over(self, events: list[Event]) -> None:
        """Deliver events that arrived from the network (a subclass may queue them instead)."""
        self._listeners.deliver(events)

    def _received(self, data: bytes | str) -> None:
        try:
            origin, events = decode_batch(data)
        except (ValueError, KeyError, TypeError):
            log.warning("%s: undecodable bus message dropped", redact_url(self.url))
            return
        if origin != self.origin:
            self._hand_over(events)

    def _announce_reset(self, reason: str) -> None:
        self.resets += 1
        self._hand_over([reset_event(reason)])

    def _publish_failed(self, exc: Exception) -> None:
        self.dropped += 1
        log.warning("%s: invalidation not published (%s)", redact_url(self.url), exc)


class PollingBus(RemoteBus):
    """A remote bus whose subscription is a blocking connection read by one daemon thread, which
    reconnects with backoff until the bus is closed."""

    thread_name = "ccs-bus"
    transport_errors: tuple[type[BaseException], ...] = (OSError,)

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        remove = self._listeners.add(listener)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
                self._thread.start()
        self._ready.wait(READY_WAIT)
        return remove

    @abstractmethod
    def _listen(self) -> None:
        """Subscribe, call ``self._subscribed(reason)`` once listening, then feed every message to
        ``self._received`` until ``self._stop`` is set; raise a transport error on disconnection."""

    def _subscribed(self, reason: str) -> None:
        self._delay = 0.05
        self._ready.set()
        self._announce_reset(reason)

    def _run(self) -> None:
        self._delay = 0.05
        while not self._stop.is_set():
            try:
                self._listen()
            except self.transport_errors as exc:
                if self._stop.is_set():
                    return
                log.info("%s: bus connection lost (%s); reconnecting", redact_url(self.url), exc)
            self._stop.wait(self._delay)
            self._delay = min(self._delay * 2, 1.0)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
