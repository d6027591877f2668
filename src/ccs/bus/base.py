"""Invalidation transport. Correctness never depends on it: commits always re-check versions and
epochs in the store. A bus only makes cached copies fresh sooner."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence

from ccs.protocol.messages import Event

Listener = Callable[[Event], None]


class Bus(ABC):
    url: str = ""

    @abstractmethod
    def publish(self, events: Sequence[Event]) -> None: ...

    @abstractmethod
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register ``listener``; returns a function that unsubscribes it."""

    def poll(self) -> None:
        """Deliver anything pending now (for polling transports); a no-op for push transports."""

    def close(self) -> None:
        return None
