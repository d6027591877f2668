"""``CoherentMemory``: an AutoGen ``Memory`` over shared artifacts, one instance per agent.

Before every inference ``AssistantAgent`` awaits ``update_context``; this one adds a system
message carrying each shared artifact as this agent should see it now, rendered by
``ccs.tokens.ContextAgent`` against what its conversation already holds: the content the first
time, a one-line reference when unchanged, a diff when a peer changed it. If the model context
dropped an earlier injection (a buffered context, ``clear()`` on reset), everything is sent whole
again.

``add`` with ``metadata={"artifact": id}`` is a checked write of that artifact: a
compare-and-set against ``metadata["expected_version"]``, else against the version this agent
was last shown (its tools' last read first, see ``shared.py``); ``VersionConflict`` if a peer
committed since. ``add`` without an artifact appends to this agent's own
entries (private: other agents' memories never show them), like ``ListMemory``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from autogen_core import CancellationToken, Component
from autogen_core.memory import Memory, MemoryContent, MemoryQueryResult, UpdateContextResult
from autogen_core.model_context import ChatCompletionContext
from autogen_core.models import SystemMessage
from pydantic import BaseModel

from ccs.adapters.autogen.content import memory_content, value_of
from ccs.adapters.autogen.shared import PRIVATE_PREFIX, SharedArtifacts, private_artifact
from ccs.backends import redact_url
from ccs.client import CoherenceAdapterCore
from ccs.client.agent import Agent
from ccs.protocol.errors import InvalidArgument
from ccs.protocol.ids import check_agent_name, check_artifact_id
from ccs.tokens import ContextAgent, TokenCounter

HEADER = ("Shared artifacts, as you ({agent}) see them now. Writes are checked: one based on an "
          "older version than the current one is refused.\n\n")
NOTES = "your-memory"


class CoherentMemoryConfig(BaseModel):
    """What ``dump_component()`` writes. Loading it opens the engine again: for ``memory://``
    that is a new, empty store (only a shared engine such as SQLite or PostgreSQL comes back
    with its artifacts). Strategy parameters other than the name are not kept."""

    engine: str
    agent: str
    artifacts: list[str]
    strategy: str = "lazy"
    retries: int = 8
    name: str | None = None


class CoherentMemory(Memory, Component[CoherentMemoryConfig]):
    """``CoherentMemory(core_or_shared, "writer", artifacts=["plan.md"])``: replaces
    ``ListMemory()`` in ``AssistantAgent(..., memory=[...])`` for the agent named here. Given an
    engine URL instead, it opens (and ``close()`` closes) a core of its own."""

    component_type = "memory"
    component_config_schema = CoherentMemoryConfig
    component_provider_override = "ccs.adapters.autogen.CoherentMemory"

    def __init__(self, source: SharedArtifacts | CoherenceAdapterCore | str, agent: str, *,
                 artifacts: Iterable[str] | None = None, name: str | None = None,
                 counter: TokenCounter | None = None, diffs: bool = True) -> None:
        self._owns_shared = not isinstance(source, SharedArtifacts)
        self.shared = source if isinstance(source, SharedArtifacts) \
            else SharedArtifacts(source, artifacts or ())
        self.agent_name = check_agent_name(agent)
        self.artifacts = list(self.shared.artifacts) if artifacts is None \
            else [check_artifact_id(a) for a in artifacts]
        self.name = name or f"ccs:{agent}"
        self.private = private_artifact(agent)
        self.context = ContextAgent(self.shared.agent(agent), counter=counter, diffs=diffs)
        self._injected: list[SystemMessage] = []

    @property
    def agent(self) -> Agent:
        return self.shared.agent(self.agent_name)

    @property
    def coherence_disabled(self) -> bool:
        """True when its ``SharedArtifacts`` was built with ``CCS_DISABLE`` (a pass-through)."""
        return self.shared.coherence_disabled

    def tools(self, agent: str | None = None) -> list[Any]:
        """``read_artifact``/``write_artifact``/``update_artifact`` acting as this memory's agent
        (or ``agent``, to override)."""
        return self.shared.tools_for(agent or self.agent_name)

    # --- reading ---------------------------------------------------------------------------------

    def _read_all(self, agent: Agent) -> tuple[list[tuple[str, Any, int]], list[dict[str, Any]]]:
        found = []
        for aid in self.artifacts:
            snap = agent.snapshot(aid, None)
            if snap.exists:
                found.append((aid, snap.value, snap.version))
        notes = agent.snapshot(self.private, None)
        return found, (notes.value or []) if notes.exists else []

    async def update_context(self, model_context: ChatCompletionContext) -> UpdateContextResult:
        present = {id(m) for m in await model_context.get_messages()}
        if any(id(m) not in present for m in self._injected):
            self.context.reset()  # an earlier injection is gone: what it held must be re-sent
            self._injected.clear()
        found, notes = await self.shared.call(self.agent_name, self._read_all)
        parts, results = [], []
        for aid, value, version in found:
            self.shared.shown_by_memory(self.agent_name, aid, version)
            rendered = self.context.render(aid, value, version)
            parts.append(rendered.text)
            results.append(memory_content(aid, value, version, rendered=rendered.kind))
        if notes:
            text = "\n".join(f"{i}. {_note_text(n)}" for i, n in enumerate(notes, 1))
            parts.append(self.context.renderer.read(NOTES, text).text)
            results.extend(MemoryContent.model_validate(n) for n in notes)
        if parts:
            message = SystemMessage(content=HEADER.format(agent=self.agent_name)
                                    + "\n\n".join(parts))
            await model_context.add_message(message)
            self._injected.append(message)
        return UpdateContextResult(memories=MemoryQueryResult(results=results))

    async def query(self, query: str | MemoryContent = "",
                    cancellation_token: CancellationToken | None = None,
                    **kwargs: Any) -> MemoryQueryResult:
        """The shared artifacts (this agent's view) and its own entries; a query naming one of
        the artifacts returns just that one."""
        found, notes = await self.shared.call(self.agent_name, self._read_all)
        wanted = query if isinstance(query, str) else None
        if wanted and any(aid == wanted for aid, _, _ in found):
            return MemoryQueryResult(results=[memory_content(aid, v, ver)
                                              for aid, v, ver in found if aid == wanted])
        results = [memory_content(aid, v, ver) for aid, v, ver in found]
        results.extend(MemoryContent.model_validate(n) for n in notes)
        return MemoryQueryResult(results=results)

    # --- writing ---------------------------------------------------------------------------------

    async def add(self, content: MemoryContent,
                  cancellation_token: CancellationToken | None = None) -> None:
        meta = content.metadata or {}
        aid = meta.get("artifact")
        if aid is None:
            entry = content.model_dump(mode="json")
            await self.shared.call(self.agent_name, lambda a: a.write_cas(
                self.private, lambda old: [*(old or []), entry], retries=self.shared.retries))
            return
        check_artifact_id(aid)
        if aid.startswith(PRIVATE_PREFIX) and aid != self.private:
            raise InvalidArgument(f"{aid!r} is another agent's private memory",
                                  parameter="metadata.artifact")
        value = value_of(content.content, content.mime_type)
        expected = meta.get("expected_version")

        def write(a: Agent) -> int:
            base = self.shared.base(self.agent_name, aid) if expected is None else expected
            return a.commit_cas(aid, base, value)

        await self.shared.call(self.agent_name, write)

    async def clear(self) -> None:
        """Forget this agent's own entries and what its conversation holds. Shared artifacts
        are left alone: they are the team's, not this memory's."""
        await self.shared.call(self.agent_name, lambda a: a.write_cas(
            self.private, lambda old: [], retries=self.shared.retries))
        self.context.reset()
        self._injected.clear()

    async def close(self) -> None:
        """Closes the core only if this memory opened it (from an engine URL or a config);
        a shared one belongs to its ``SharedArtifacts`` (``shared.close()``)."""
        if self._owns_shared:
            self.shared.close()

    # --- component config ------------------------------------------------------------------------

    def _to_config(self) -> CoherentMemoryConfig:
        url = getattr(self.shared.core.coordinator.backend, "url", None)
        if not isinstance(url, str):
            raise InvalidArgument("this engine has no URL to write into a config",
                                  parameter="engine")
        if redact_url(url) != url:
            raise InvalidArgument("the engine URL carries a password; a dumped config would "
                                  "too. Use a URL without one (e.g. a .pgpass or env setting)",
                                  parameter="engine")
        return CoherentMemoryConfig(engine=url, agent=self.agent_name, artifacts=self.artifacts,
                                    strategy=self.shared.core.strategy.name,
                                    retries=self.shared.retries, name=self.name)

    @classmethod
    def _from_config(cls, config: CoherentMemoryConfig) -> CoherentMemory:
        shared = SharedArtifacts(config.engine, config.artifacts, strategy=config.strategy,
                                 retries=config.retries)
        memory = cls(shared, config.agent, name=config.name)
        memory._owns_shared = True
        return memory


def _note_text(note: dict[str, Any]) -> str:
    return str(note.get("content"))
