"""Invalidation transport. Correctness never depends on it: commits always re-check versions and
epochs in the store. A bus only makes cached copies fresh sooner."""

from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from ccs.protocol.messages import Event

Listener = Callable[[Event], None]


class Bus(ABC):
    url: str = ""

    @abstractmethod
    def publish(self, events: Sequence[Event]) -> None: ...

    @abstractmethod
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener``; returns a function that unsubscribes it."""

    def carrier(self, backend: Any) -> Callable[[Sequence[Event]], Any] | None:
        """A function that turns a commit's events into the notice ``backend`` sends or stores
        in the commit itself (see ``ccs.backends.base``), when this bus listens on that very
        store; ``None`` (the default) when events must be published after the commit."""
        return None

    def deliver_local(self, events: Sequence[Event]) -> None:
        """Hand events whose notice travelled with their commit to this process's listeners."""
        self.publish(events)

    def poll(self) -> None:
        """Deliver anything pending now (for polling transports); a no-op for push transports."""

    def close(self) -> None:
        return None


# --- shared by the networked buses (redis, postgres, nats) ---------------------------------------

BUS_RESET = "bus_reset"
log = logging.getLogger("ccs.bus")


def reset_event(reason: str) -> Event:
    """The signal a networked bus delivers after it (re)subscribes: messages may have been missed
    while it was away, so every cached copy must be revalidated (see ``CoherenceAdapterCore``)."""
    return Event(BUS_RESET, "", 0, 0, 0, None, (), reason)


def encode_batch(origin: str, events: Sequence[Event]) -> bytes:
    return json.dumps({"o": origin, "e": [e.to_dict() for e in events]}, separators=(",", ":")).encode()


def decode_batch(data: bytes | str) -> tuple[str, list[Event]]:
    msg = json.loads(data)
    return str(msg["o"]), [Event.from_dict(d) for d in msg["e"]]


class Listeners:
    """The listeners of one bus; a failing listener is logged and never stops a delivery thread."""

    def __init__(self) -> None:
        self._listeners: tuple[Listener, ...] = ()
        self._lock = threading.Lock()

    def add(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return remove

    def deliver(self, events: Sequence[Event]) -> None:
        for event in events:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:
                    log.exception("bus listener failed on %s", event)
