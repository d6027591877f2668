"""Background heartbeats for the agents of one process.

An agent that took a grant must heartbeat, or crash recovery presumes it dead after
``heartbeat_ttl`` and fences it. An LLM agent thinks for long stretches without calling the store,
so the core heartbeats for it from a daemon thread while the process runs; a process that is
killed, paused or cut off from the store stops heartbeating, and that is what the sweep detects.
Only with the system clock: under an injected clock time is simulated and heartbeats are the
caller's job (``agent.heartbeat()``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import TYPE_CHECKING

from ccs.protocol.errors import CoherenceError

if TYPE_CHECKING:
    from ccs.client.core import CoherenceAdapterCore

log = logging.getLogger("ccs.heartbeat")


class Heartbeater:
    def __init__(self, core: CoherenceAdapterCore, interval: float) -> None:
        self.interval = interval
        self._core = weakref.ref(core)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ccs-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            core = self._core()
            if core is None:
                return
            self.beat(core)
            del core

    def beat(self, core: CoherenceAdapterCore) -> int:
        """Heartbeat every agent of ``core`` that took a grant and has not beaten lately."""
        now = core.clock.now()
        beaten = 0
        for agent in list(core.agents.values()):
            if agent.holds_grants and now - agent.last_heartbeat >= self.interval:
                try:
                    agent.heartbeat()
                    beaten += 1
                except CoherenceError as exc:  # the store is away: the sweep will tell
                    log.warning("heartbeat of %s failed: %s", agent.name, exc.code)
        return beaten

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=1)
