"""In-process bus: delivers synchronously to every listener in the publishing thread."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from ccs.bus.base import Bus, Listener
from ccs.protocol.messages import Event


class MemoryBus(Bus):
    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._listeners: tuple[Listener, ...] = ()
        self._lock = threading.Lock()

    def publish(self, events: Sequence[Event]) -> None:
        listeners = self._listeners
        for event in events:
            for listener in listeners:
                listener(event)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def unsubscribe() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return unsubscribe
