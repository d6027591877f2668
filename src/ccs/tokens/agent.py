"""The agent API, rendered: reads come back as the text a prompt should carry.

>>> ctx = ContextAgent(core.agent("planner"))
>>> ctx.read("plan.md").text        # full content the first time, then a reference or a diff
>>> [s.text for s in ctx.signals()] # one line per held artifact that changed since it was read
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ccs.protocol.records import Mesi
from ccs.tokens.counter import TokenCounter
from ccs.tokens.render import ContextRenderer, Rendered

if TYPE_CHECKING:
    from ccs.client.agent import Agent


class ContextAgent:
    """Wraps an :class:`~ccs.client.agent.Agent` and a :class:`ContextRenderer` (one conversation).

    ``full=True`` renders every read as full content whatever the conversation holds: the
    "inject the artifact on every read" behaviour of frameworks today, kept for baselines.
    """

    def __init__(self, agent: Agent, renderer: ContextRenderer | None = None, *,
                 counter: TokenCounter | None = None, diffs: bool = True, full: bool = False) -> None:
        self.agent = agent
        self.renderer = renderer or ContextRenderer(counter, diffs=diffs)
        self.full = full
        self._versions: dict[str, int] = {}
        self._names: dict[str, str] = {}
        self._signalled: dict[str, tuple[int | None, bool]] = {}

    @property
    def name(self) -> str:
        return self.agent.name

    def read(self, artifact_id: str, *, fresh: bool = False) -> Rendered:
        """Read through the agent (cache when the strategy says fresh; ``fresh=True`` checks the
        store) and render against what this conversation holds."""
        snap = self.agent.read_with_version(artifact_id, None) if fresh \
            else self.agent.snapshot(artifact_id, None)
        return self.render(artifact_id, snap.value, snap.version)

    def render(self, artifact_id: str, value: Any, version: int, *, name: str | None = None) -> Rendered:
        """Render ``value`` (``version`` of ``artifact_id``, as served by the agent); ``name`` is
        how the prompt calls the artifact (default: its id)."""
        name = self._names.setdefault(artifact_id, name or artifact_id)
        self._versions[artifact_id] = version
        self._signalled.pop(artifact_id, None)
        if self.full:
            self.renderer.forget(name)
        return self.renderer.read(name, value, version)

    def read_text(self, artifact_id: str) -> str:
        return self.read(artifact_id).text

    def write(self, artifact_id: str, value: Any) -> int:
        """A checked write (see ``Agent.write``); the conversation holds what it wrote."""
        version = self.agent.write(artifact_id, value)
        self.wrote(artifact_id, value, version)
        return version

    def wrote(self, artifact_id: str, value: Any, version: int, *, name: str | None = None) -> None:
        name = self._names.setdefault(artifact_id, name or artifact_id)
        self._versions[artifact_id] = version
        self._signalled.pop(artifact_id, None)
        if not self.full:
            self.renderer.note(name, value, version)

    def changed(self) -> list[str]:
        """Held artifacts whose copy the agent's cache knows to be outdated (an invalidation
        arrived, or an eager refetch brought a newer version)."""
        out = []
        for aid, held in self._versions.items():
            cached = self.agent.cached_version(aid)
            if cached is None:
                continue
            if cached > held or self.agent.state(aid) is Mesi.INVALID:
                out.append(aid)
        return out

    def signals(self, exclude: Iterable[str] = ()) -> list[Rendered]:
        """One signal per held artifact that changed since this conversation last saw it and was
        not signalled already (coalesced: several commits make one line). Artifacts in
        ``exclude`` (read in this same turn, so the read carries the change) are skipped."""
        if self.full:
            return []  # no coherence: nothing tells this conversation that a copy went stale
        skip = set(exclude)
        out = []
        for aid in self.changed():
            if aid in skip:
                continue
            cached = self.agent.cached_version(aid)
            stale = self.agent.state(aid) is Mesi.INVALID
            key = (cached, stale)
            if self._signalled.get(aid) == key:
                continue
            self._signalled[aid] = key
            out.append(self.renderer.signal(self._names.get(aid, aid), None if stale else cached))
        return out

    def reset(self) -> None:
        """A new conversation: it holds nothing."""
        self.renderer.forget()
        self._versions.clear()
        self._names.clear()
        self._signalled.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.agent, name)
