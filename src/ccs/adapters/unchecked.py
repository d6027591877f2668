"""The pass-through the agent-based adapters (AutoGen, OpenAI Agents, CrewAI) use with
``CCS_DISABLE=1`` (docs/kill-switches.md).

These adapters keep their data in the engine itself (there is no other store under them), so
their pass-through keeps the engine as storage and turns coherence off: an adapter built while
the switch is on wraps its core in ``UncheckedCore``, whose agents never serve a cached copy
(every read asks the engine for the current version) and write blind: every write lands, whatever
version it was derived from (last write wins, as without this library). Compare-and-set
arguments are accepted and ignored; ``write_cas`` reads, applies ``fn`` and writes once.

The agent API itself (``CoherenceAdapterCore(...).agent(name)``) is not switched: a caller who
asks an agent for a compare-and-set gets one (a CAS that silently stopped comparing would be a
lie). Only the adapters, which stand in for a framework's own unchecked store, pass through, and
``ccs serve``, whose agents are ``UncheckedAgent``s but whose explicit compare-and-set requests
go through ``UncheckedAgent.compare_and_set``, which still compares.
"""

from __future__ import annotations

import threading
from typing import Any

from ccs import killswitch
from ccs.client import CoherenceAdapterCore
from ccs.client.agent import Agent
from ccs.client.codec import encode
from ccs.protocol.arguments import check_int
from ccs.protocol.errors import InvalidArgument
from ccs.protocol.ids import check_agent_name
from ccs.protocol.messages import Committed


class UncheckedAgent(Agent):
    coherence_disabled = True

    def __init__(self, core: CoherenceAdapterCore, name: str) -> None:
        super().__init__(core, name)
        self._plain = False

    def _serves(self, entry: Any) -> bool:
        return False  # never a cached copy: every read gets the engine's current version

    def write(self, artifact_id: str, value: Any, *, blind: bool = False) -> int:
        return super().write(artifact_id, value, blind=True)

    def commit(self, artifact_id: str, value: Any) -> int:
        return self.write(artifact_id, value)

    def delete(self, artifact_id: str) -> int:
        return self.commit_payload(artifact_id, 0, None).version

    def commit_payload(self, artifact_id: str, expected_version: int,
                       payload: tuple[bytes, str] | None, value: Any = None) -> Committed:
        check_int("expected_version", expected_version, minimum=0)  # accepted, not compared
        c = self._commit(artifact_id, lambda cid: self.coordinator.write(
            self.id, artifact_id, None, None, payload, cid))
        data, kind = (b"", "deleted") if payload is None else payload
        self._install_commit(artifact_id, c, data, kind, data if value is None else value, owner=True)
        return c

    def compare_and_set(self, artifact_id: str, expected_version: int, value: Any) -> int:
        """A compare-and-set that still compares, for a caller who asked for one explicitly
        (``ccs serve``'s ``write_cas``): ``VersionConflict`` unless the artifact is still at
        ``expected_version``."""
        return Agent.commit_payload(self, artifact_id, expected_version, encode(value, artifact_id),
                                    value).version

    def write_cas(self, artifact_id: str, fn: Any, retries: int = 8, backoff: float = 0.001) -> int:
        check_int("retries", retries, minimum=0)
        if not callable(fn):
            raise InvalidArgument(f"fn must be callable, got {type(fn).__name__}", parameter="fn")
        old = self.read_with_version(artifact_id, None).value
        return self.write(artifact_id, fn(old))


class UncheckedCore(CoherenceAdapterCore):
    """A view of ``core`` whose agents are ``UncheckedAgent``s; everything else is ``core``'s
    (closing it closes ``core``)."""

    coherence_disabled = True

    def __init__(self, core: CoherenceAdapterCore) -> None:  # a view: no super().__init__
        self._inner_core = core
        self._unchecked: dict[str, UncheckedAgent] = {}
        self._unchecked_lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_inner_core") or name.startswith("_unchecked"):
            raise AttributeError(name)
        return getattr(self._inner_core, name)

    def agent(self, name: str) -> UncheckedAgent:
        agent = self._unchecked.get(name) if isinstance(name, str) else None
        if agent is None:
            check_agent_name(name)
            with self._unchecked_lock:
                agent = self._unchecked.setdefault(name, UncheckedAgent(self._inner_core, name))
        return agent

    @property
    def agents(self) -> dict[str, Agent]:  # type: ignore[override]
        return dict(self._unchecked)

    def close(self) -> None:
        self._inner_core.close()

    def __repr__(self) -> str:
        return f"UncheckedCore({self._inner_core!r}, coherence disabled by CCS_DISABLE)"


def unchecked(core: CoherenceAdapterCore) -> UncheckedCore:
    """``core`` with coherence off (the same object if it already is)."""
    return core if isinstance(core, UncheckedCore) else UncheckedCore(core)


def core_for(adapter: str, core: CoherenceAdapterCore) -> CoherenceAdapterCore:
    """What an adapter's constructor uses: ``core``, or its unchecked view when ``CCS_DISABLE``
    is on (read now, once; the WARNING is logged by ``ccs.killswitch``)."""
    return unchecked(core) if killswitch.coherence_disabled(adapter) else core
