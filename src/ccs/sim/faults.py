"""A bus that loses and delays invalidations per subscriber, on the simulator's ticks.

Each agent runs its own :class:`CoherenceAdapterCore` (as separate processes would), so each has
its own subscription; a lost message is lost for one subscriber only, which is the case the
core's sequence-gap detection and the lease strategy exist for.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from ccs.bus.base import Bus, Listener
from ccs.protocol.messages import Event


class FaultyBus(Bus):
    url = "sim://faulty"

    def __init__(self, rng: random.Random, loss: float = 0.0, delay_p: float = 0.0,
                 delay_ticks: int = 0) -> None:
        self.rng = rng
        self.loss = loss
        self.delay_p = delay_p
        self.delay_ticks = delay_ticks
        self.tick = 0
        self._listeners: list[tuple[Listener, Callable[[], bool]]] = []
        self._pending: list[tuple[int, int, Listener, Event]] = []
        self._n = 0
        self.delivered = self.lost = self.delayed = self.dropped_down = 0

    def subscribe(self, listener: Listener, alive: Callable[[], bool] = lambda: True
                  ) -> Callable[[], None]:
        entry = (listener, alive)
        self._listeners.append(entry)

        def unsubscribe() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)

        return unsubscribe

    def set_alive(self, listener: Listener, alive: Callable[[], bool]) -> None:
        self._listeners = [(fn, alive if fn == listener else a) for fn, a in self._listeners]

    def publish(self, events: Sequence[Event]) -> None:
        for event in events:
            for listener, alive in list(self._listeners):
                if not alive():
                    self.dropped_down += 1  # a paused process hears nothing
                    continue
                r = self.rng.random()
                if r < self.loss:
                    self.lost += 1
                elif r < self.loss + self.delay_p and self.delay_ticks > 0:
                    self.delayed += 1
                    self._n += 1
                    self._pending.append((self.tick + self.delay_ticks, self._n, listener, event))
                else:
                    self.delivered += 1
                    listener(event)

    def advance(self, tick: int) -> None:
        """Move to ``tick`` and deliver the delayed messages now due (in send order)."""
        self.tick = tick
        due = sorted((p for p in self._pending if p[0] <= tick), key=lambda p: (p[0], p[1]))
        self._pending = [p for p in self._pending if p[0] > tick]
        for _, _, listener, event in due:
            alive = next((a for fn, a in self._listeners if fn == listener), None)
            if alive is None or not alive():
                self.dropped_down += 1
                continue
            self.delivered += 1
            listener(event)

    def drop_pending(self) -> int:
        """A coordinator restart: messages in flight are gone."""
        n = len(self._pending)
        self._pending.clear()
        self.lost += n
        return n
