"""``SharedField``: a value that parallel CrewAI Flow listeners change without losing writes.

``Flow.state`` has no lock and CrewAI runs parallel listeners on threads: three listeners doing
read -> think -> write on ``state.n`` end at ``n = 1``. Keep such a value in a ``SharedField``:

    counter = SharedField(core, "flow/n", initial=0)

    @listen(start)
    def a(self):
        counter.update(lambda n: n + 1, agent="a")       # checked read-modify-write, retried

or, to see the race: ``snap = counter.read("a")`` ... ``counter.write(new, based_on=snap,
agent="a")``, which raises ``StaleView`` when a peer committed since ``snap``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ccs.adapters.crewai.identity import current_role
from ccs.adapters.unchecked import core_for
from ccs.client import CoherenceAdapterCore, Versioned
from ccs.protocol.errors import StaleView, VersionConflict


class SharedField:
    def __init__(self, core: CoherenceAdapterCore, artifact: str, initial: Any = None) -> None:
        self.core, self.artifact, self.initial = core_for("CrewAI SharedField", core), artifact, initial
        self.coherence_disabled = self.core.coherence_disabled  # CCS_DISABLE: pass-through

    def _agent(self, agent: str | None):
        return self.core.agent(agent or current_role() or "flow")

    def get(self, agent: str | None = None) -> Any:
        return self._agent(agent).read(self.artifact, default=self.initial)

    def read(self, agent: str | None = None) -> Versioned:
        """The value and the version it is at: pass it to ``write(..., based_on=)``."""
        return self._agent(agent).read_with_version(self.artifact, default=self.initial)

    def write(self, value: Any, *, based_on: Versioned, agent: str | None = None) -> int:
        """Commit ``value`` only if the field is still at ``based_on.version``; else ``StaleView``."""
        try:
            return self._agent(agent).commit_cas(self.artifact, based_on.version, value)
        except VersionConflict as err:
            raise StaleView(f"{self.artifact!r} moved past v{based_on.version}: not written",
                            artifact=self.artifact, current_version=err.current_version,
                            current_epoch=err.current_epoch) from err

    def update(self, fn: Callable[[Any], Any], *, agent: str | None = None,
               retries: int = 32) -> Any:
        """``fn(current)`` committed atomically against the version it saw, retried up to
        ``retries`` times; returns the value committed."""
        out: list[Any] = []

        def step(old: Any) -> Any:
            out[:] = [fn(self.initial if old is None else old)]
            return out[0]

        self._agent(agent).write_cas(self.artifact, step, retries=retries)
        return out[0]
