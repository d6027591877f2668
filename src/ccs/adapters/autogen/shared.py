"""``SharedArtifacts``: the artifacts a team shares, one core, and per-agent handles onto it.

AutoGen never tells a memory or a tool which agent is calling, so identity is carried by the
object: ``shared.memory_for("writer")`` and ``shared.tools_for("writer")`` act as agent
``writer``. Nothing here imports AutoGen; ``memory_for``/``tools_for`` import it when called.

What a write is checked against. A model derives a write from what it was shown, and it may
have been shown an artifact twice: by ``read_artifact`` some turns ago and by its memory at the
start of this turn. The stricter of the two is taken: a write (tool or ``memory.add``) is a
compare-and-set against the version the agent's last ``read_artifact`` (or landed
``write_artifact``) returned; only an artifact its tools never read is checked against the
version its memory last showed; one it was never shown is expected absent (a create). A memory
refresh therefore never makes a write derived from an older tool read land. ``update_artifact``
does not move the base either: it edits the current version, which the model has not seen.

The agent API is synchronous and an engine call (SQLite, PostgreSQL, Redis) may block, so
``call`` runs it in a worker thread (``asyncio.to_thread``); the in-memory engine is a dict
behind a lock and runs inline, on the loop. One lock per agent keeps an agent's own concurrent
tool calls (AutoGen runs a turn's tool calls with ``asyncio.gather``) from interleaving inside
its cache.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from ccs.adapters.unchecked import core_for
from ccs.backends.memory import MemoryBackend
from ccs.client import CoherenceAdapterCore
from ccs.protocol.arguments import check_int
from ccs.protocol.errors import InvalidArgument
from ccs.protocol.ids import check_artifact_id

if TYPE_CHECKING:
    from autogen_core.tools import FunctionTool

    from ccs.adapters.autogen.memory import CoherentMemory
    from ccs.client.agent import Agent

T = TypeVar("T")

PRIVATE_PREFIX = "autogen/private/"


def private_artifact(agent: str) -> str:
    """The artifact holding agent ``agent``'s own memory entries (``add`` without an artifact)."""
    return f"{PRIVATE_PREFIX}{agent}"


class SharedArtifacts:
    """The shared artifacts of one team, over one ``CoherenceAdapterCore``.

    ``engine`` is a core or an engine URL (``memory://``, ``sqlite:///state.db``, ...);
    ``artifacts`` are the ids every agent's memory injects into its prompt; ``retries`` bounds
    ``update_artifact``'s read-modify-write; ``offload`` forces (True) or forbids (False) running
    engine calls in a worker thread (default: only for engines that may block).
    """

    def __init__(self, engine: CoherenceAdapterCore | str = "memory://",
                 artifacts: Iterable[str] = (), *, strategy: str = "lazy", retries: int = 8,
                 offload: bool | None = None) -> None:
        check_int("retries", retries, minimum=0)
        if isinstance(engine, CoherenceAdapterCore):
            self.core = engine
            self._owns_core = False
        else:
            self.core = CoherenceAdapterCore(engine=engine, strategy=strategy)
            self._owns_core = True
        self.core = core_for("AutoGen SharedArtifacts", self.core)  # CCS_DISABLE: pass-through
        self.coherence_disabled = self.core.coherence_disabled
        if isinstance(artifacts, str):
            raise InvalidArgument("artifacts must be a list of ids, not one string",
                                  parameter="artifacts")
        self.artifacts = [check_artifact_id(a) for a in artifacts]
        self.retries = retries
        backend = self.core.coordinator.backend
        self.offload = not isinstance(backend, MemoryBackend) if offload is None else offload
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._read: dict[tuple[str, str], int] = {}   # (agent, artifact) -> version its tools read
        self._shown: dict[tuple[str, str], int] = {}  # ... -> version its memory last showed

    def read_by_tool(self, agent: str, artifact: str, version: int) -> None:
        self._read[agent, artifact] = version

    def shown_by_memory(self, agent: str, artifact: str, version: int) -> None:
        self._shown[agent, artifact] = version

    def base(self, agent: str, artifact: str) -> int:
        """The version a write by ``agent`` of ``artifact`` is taken to be derived from."""
        version = self._read.get((agent, artifact))
        if version is None:
            version = self._shown.get((agent, artifact), 0)
        return version

    def render_context(self, name: str, ids: Iterable[str], **options: Any) -> Any:
        """Agent ``name``'s stateless prompt over ``ids`` for a provider prompt cache (options as
        ``Agent.render_context``: role, turn, preset, shared, now); the pin is shared by the team."""
        return self.core.agent(name).render_context(list(ids), **options)

    def agent(self, name: str) -> Agent:
        return self.core.agent(name)

    def lock(self, name: str) -> threading.Lock:
        lock = self._locks.get(name)
        if lock is None:
            with self._locks_guard:
                lock = self._locks.setdefault(name, threading.Lock())
        return lock

    async def call(self, name: str, fn: Callable[[Agent], T]) -> T:
        """Run ``fn(agent)`` as agent ``name``: in a worker thread when the engine may block."""
        agent = self.core.agent(name)
        lock = self.lock(name)

        def run() -> T:
            with lock:
                return fn(agent)

        if self.offload:
            return await asyncio.to_thread(run)
        return run()

    def memory_for(self, agent: str, *, artifacts: Iterable[str] | None = None,
                   **kwargs: Any) -> CoherentMemory:
        """An AutoGen ``Memory`` acting as ``agent`` (its own conversation, its own private
        entries); ``artifacts`` overrides the shared list for this agent."""
        from ccs.adapters.autogen.memory import CoherentMemory

        return CoherentMemory(self, agent, artifacts=artifacts, **kwargs)

    def tools_for(self, agent: str) -> list[FunctionTool]:
        """``read_artifact``, ``write_artifact``, ``update_artifact`` acting as ``agent``."""
        from ccs.adapters.autogen.tools import artifact_tools

        return artifact_tools(self, agent)

    def close(self) -> None:
        """Close the core if this object created it (a core passed in is the caller's)."""
        if self._owns_core:
            self.core.close()
