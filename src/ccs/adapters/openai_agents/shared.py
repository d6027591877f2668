"""``SharedArtifacts``: the artifacts a team of SDK agents shares, one checked view per agent.

Each SDK agent (by ``Agent.name``, or an explicit override) is one ccs agent of one
``CoherenceAdapterCore``: its *view* of an artifact is the version its last ``read`` returned, and
a write derived from it lands only if nobody committed since (else a refusal the model can act
on). What the agent's prompt holds is tracked by a ``ContextAgent``, so a changed artifact can be
shown as a diff against the version the prompt already has.

The operations here are synchronous and return JSON-able payloads; ``a…`` twins run them in a
worker thread (see ``bridge.py``) for tools and hooks on the event loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from ccs.adapters.openai_agents import bridge
from ccs.adapters.openai_agents.payloads import NotApplicable, refusal, text_edit
from ccs.adapters.unchecked import core_for
from ccs.client import CoherenceAdapterCore
from ccs.protocol.errors import CoherenceError
from ccs.protocol.ids import check_agent_name
from ccs.tokens import ContextAgent, Rendered

BOUND_AGENT = "_ccs_agent_name"  # set on a ToolContext by the hooks for the duration of the call


class SharedArtifacts:
    """One core and the agents of a team. ``core=`` shares an existing core; otherwise one is
    made from ``engine`` / ``strategy`` (and closed by ``close``)."""

    def __init__(self, core: CoherenceAdapterCore | None = None, *, engine: str = "memory://",
                 strategy: str = "lazy", default_agent: str = "default", retries: int = 8,
                 diffs: bool = True, **core_options: Any) -> None:
        self._owns_core = core is None
        self.core = core_for("OpenAI Agents SharedArtifacts", core if core is not None else
                             CoherenceAdapterCore(engine=engine, strategy=strategy, **core_options))
        self.coherence_disabled = self.core.coherence_disabled  # CCS_DISABLE: pass-through
        self.default_agent = check_agent_name(default_agent)
        self.retries = retries
        self.diffs = diffs
        self.events: list[dict[str, Any]] = []  # what happened, in order: landed, refused, ...
        self._contexts: dict[str, ContextAgent] = {}
        self._held: dict[str, dict[str, int]] = {}  # agent -> artifact -> version of its view
        self._shown: dict[str, dict[str, int]] = {}  # agent -> artifact -> version its prompt has
        self._lock = threading.Lock()

    # --- who is calling ----------------------------------------------------------------------

    def agent_name(self, ctx: Any = None, *, agent: Any = None, override: str | None = None) -> str:
        """The calling agent: ``override`` if given, else the agent the hooks bound to this tool
        call, else ``agent`` / ``ctx.agent`` (a ``ToolContext``), else ``default_agent``."""
        if override:
            return override
        bound = getattr(ctx, BOUND_AGENT, None)
        if isinstance(bound, str) and bound:
            return bound
        sdk_agent = agent if agent is not None else getattr(ctx, "agent", None)
        name = getattr(sdk_agent, "name", None)
        return name if isinstance(name, str) and name else self.default_agent

    def render_context(self, name: str, ids: Iterable[str], **options: Any) -> Any:
        """Agent ``name``'s stateless prompt over ``ids`` for a provider prompt cache (options as
        ``Agent.render_context``: role, turn, preset, shared, now); the pin is shared by the team."""
        return self.core.agent(name).render_context(list(ids), **options)

    def context(self, name: str) -> ContextAgent:
        """The ``ContextAgent`` of agent ``name`` (the same one on every call)."""
        ctx = self._contexts.get(name)
        if ctx is None:
            with self._lock:
                ctx = self._contexts.get(name)
                if ctx is None:
                    ctx = self._contexts[name] = ContextAgent(self.core.agent(name), diffs=self.diffs)
                    self._held[name] = {}
                    self._shown[name] = {}
        return ctx

    def _event(self, name: str, op: str, artifact: str, **fields: Any) -> None:
        self.events.append({"agent": name, "op": op, "artifact": artifact, **fields})

    # --- operations (synchronous; JSON-able payloads) ----------------------------------------

    def read(self, name: str, artifact_id: str) -> dict[str, Any]:
        """The current value and version, checked with the store; this becomes the agent's view."""
        ctx = self.context(name)
        try:
            snap = bridge.locked(ctx.agent, ctx.agent.read_with_version, artifact_id, None)
        except CoherenceError as err:
            return refusal(err, artifact_id)
        ctx.render(artifact_id, snap.value, snap.version)
        self._held[name][artifact_id] = snap.version
        self._event(name, "read", artifact_id, version=snap.version)
        return {"ok": True, "artifact": artifact_id, "version": snap.version,
                "exists": snap.exists, "value": snap.value}

    def write(self, name: str, artifact_id: str, value: Any) -> dict[str, Any]:
        """A checked write: lands only if nobody committed since this agent's read (an agent that
        never read the artifact expects it absent). A refusal changes nothing."""
        ctx = self.context(name)
        try:
            version = bridge.locked(ctx.agent, ctx.agent.write, artifact_id, value)
        except CoherenceError as err:
            self._event(name, "write", artifact_id, outcome="refused", code=err.code,
                        current_version=err.current_version)
            return refusal(err, artifact_id)
        ctx.wrote(artifact_id, value, version)
        self._held[name][artifact_id] = version
        self._event(name, "write", artifact_id, outcome="landed", version=version)
        return {"ok": True, "artifact": artifact_id, "version": version}

    def update(self, name: str, artifact_id: str, fn: Callable[[Any], Any],
               retries: int | None = None) -> dict[str, Any]:
        """Checked read-modify-write: ``fn(current)`` is applied to the current value and
        compare-and-set, re-run on the newer value when a peer won the race, at most ``retries``
        more times. The payload carries the value that landed: the agent's view is now that."""
        ctx = self.context(name)
        landed: list[Any] = []

        def apply(old: Any) -> Any:
            new = fn(old)
            landed[:] = [new]
            return new

        retries = self.retries if retries is None else retries
        try:
            version = bridge.locked(ctx.agent, ctx.agent.write_cas, artifact_id, apply, retries)
        except NotApplicable as err:
            self._event(name, "update", artifact_id, outcome="not_applicable")
            return err.payload(artifact_id)
        except CoherenceError as err:
            self._event(name, "update", artifact_id, outcome="refused", code=err.code,
                        current_version=err.current_version)
            return refusal(err, artifact_id)
        ctx.wrote(artifact_id, landed[0], version)
        self._held[name][artifact_id] = version
        self._event(name, "update", artifact_id, outcome="landed", version=version)
        return {"ok": True, "artifact": artifact_id, "version": version, "value": landed[0]}

    def edit(self, name: str, artifact_id: str, *, append: str | None = None,
             find: str | None = None, replace: str | None = None) -> dict[str, Any]:
        """``update`` with a text edit (replace ``find``, which must occur exactly once in the
        current text, by ``replace``; then append ``append``): what a model can ask for."""
        try:
            fn = text_edit(append=append, find=find, replace=replace)
        except NotApplicable as err:
            return err.payload(artifact_id)
        return self.update(name, artifact_id, fn)

    def changes(self, name: str, *, adopt: bool = False) -> list[Rendered]:
        """Artifacts this agent's prompt holds that changed since: each rendered against the
        version held (a diff when cheaper than the content). ``adopt=True`` makes the rendering a
        read (the view moves to the new version); by default the view stays, so a write derived
        from the old version is still refused until the agent reads again. A version already
        shown is not shown again."""
        ctx = self.context(name)
        held, shown = self._held[name], self._shown[name]
        out = []
        for artifact_id, version in list(held.items()):
            try:
                snap = bridge.locked(ctx.agent, ctx.agent.read_with_version, artifact_id, None) \
                    if adopt else self._peek(ctx, artifact_id)
            except CoherenceError:
                continue
            if snap.version == version or shown.get(artifact_id) == snap.version:
                continue
            out.append(ctx.render(artifact_id, snap.value, snap.version))
            shown[artifact_id] = snap.version
            if adopt:
                held[artifact_id] = snap.version
            self._event(name, "changed", artifact_id, held=version, version=snap.version,
                        adopted=adopt)
        return out

    def _peek(self, ctx: ContextAgent, artifact_id: str) -> Any:
        """The current value and version without moving the agent's view: read by the agent's
        observer (another ccs agent, ``<name>~observer``), never by the agent itself."""
        observer = self.core.agent(f"{ctx.agent.name}~observer")
        with bridge.lock_of(observer):
            return observer.read_with_version(artifact_id, None)

    # --- async twins (worker thread, agent's lock) ---------------------------------------------

    async def aread(self, name: str, artifact_id: str) -> dict[str, Any]:
        return await bridge.offload(self.core.agent(name), self.read, name, artifact_id)

    async def awrite(self, name: str, artifact_id: str, value: Any) -> dict[str, Any]:
        return await bridge.offload(self.core.agent(name), self.write, name, artifact_id, value)

    async def aupdate(self, name: str, artifact_id: str, fn: Callable[[Any], Any],
                      retries: int | None = None) -> dict[str, Any]:
        return await bridge.offload(self.core.agent(name), self.update, name, artifact_id, fn,
                                    retries)

    async def aedit(self, name: str, artifact_id: str, **edit: str | None) -> dict[str, Any]:
        return await bridge.offload(self.core.agent(name), lambda: self.edit(name, artifact_id,
                                                                              **edit))

    async def achanges(self, name: str, *, adopt: bool = False) -> list[Rendered]:
        return await bridge.offload(self.core.agent(name), lambda: self.changes(name, adopt=adopt))

    # --- SDK objects ---------------------------------------------------------------------------

    def tools(self, *, agent: str | None = None) -> list[Any]:
        """``read_artifact``, ``write_artifact`` and ``update_artifact`` function tools; the
        caller is ``ToolContext.agent`` unless ``agent`` names it."""
        from ccs.adapters.openai_agents.tools import artifact_tools
        return artifact_tools(self, agent=agent)

    def hooks(self, **options: Any) -> Any:
        """``RunHooks`` for ``Runner.run(..., hooks=...)`` (see ``CoherenceHooks``)."""
        from ccs.adapters.openai_agents.hooks import CoherenceHooks
        return CoherenceHooks(self, **options)

    def agent_hooks(self, **options: Any) -> Any:
        """``AgentHooks`` for ``Agent(hooks=...)`` (see ``CoherenceAgentHooks``)."""
        from ccs.adapters.openai_agents.hooks import CoherenceAgentHooks
        return CoherenceAgentHooks(self, **options)

    def session(self, session_id: str, **options: Any) -> Any:
        """A ``CoherentSession`` on this core."""
        from ccs.adapters.openai_agents.session import CoherentSession
        return CoherentSession(session_id, core=self.core, **options)

    def close(self) -> None:
        if self._owns_core:
            self.core.close()

    def __enter__(self) -> SharedArtifacts:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
