"""``CoherentSession``: an OpenAI Agents SDK ``Session`` whose transcript is one ccs artifact.

What a shared session id really risks is not two appends (``SQLiteSession`` appends rows) but
everything that is derived from a read of the history:

* ``pop_item`` removes "the most recent item": after another run appended, that is the other
  run's item (the SDK's own retry rewind and the "undo last turn" recipe both pop);
* ``clear_session`` (or clear + add a summary) destroys items added after the caller's read;
* a run reads the history once, at its start, and then appends turns derived from it, so its
  answers never saw what another run appended meanwhile.

What this session guarantees, on every engine (``memory://``, ``sqlite:///``, ``postgresql://``):

1. **No lost items.** ``add_items`` is a compare-and-set append on the transcript, retried on the
   newer version: concurrent appends all land, each batch contiguous and in one order for all.
2. **No destructive op on a history the caller did not see.** ``pop_item`` and ``clear_session``
   are compare-and-set against the caller's *view* (the version of its last ``get_items`` or of
   its own last change); if anyone else changed the transcript since, they raise ``StaleView``
   (with ``current_version``) and remove nothing. ``clear_session(blind=True)`` opts out.
3. **Stale history is detected.** An ``add_items`` by a caller whose view is older than the
   transcript (it appends turns derived from a history that missed someone's items) still lands
   (nothing is lost), and is recorded in ``stale_appends`` and passed to ``on_stale``;
   ``strict=True`` refuses it with ``StaleView`` instead, before anything is written.

The caller is the run: the SDK passes its ``RunContextWrapper`` to sessions that accept
``wrapper=``, and the view is kept per run. A direct call (no wrapper) uses this object's view:
the version after its own last operation. Items are stored as JSON; the whole transcript is
rewritten by each change (fine for conversations; not meant for millions of items).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ccs.adapters.openai_agents import bridge
from ccs.adapters.unchecked import core_for
from ccs.client import CoherenceAdapterCore
from ccs.protocol.errors import RetriesExhausted, StaleView, VersionConflict

PREFIX = "openai-agents/session/"
_VIEWS = "_ccs_session_views"  # on the run's RunContextWrapper: {artifact id: version}


class CoherentSession:
    def __init__(self, session_id: str, *, core: CoherenceAdapterCore | None = None,
                 engine: str = "memory://", agent: str = "session",
                 session_settings: Any = None, strict: bool = False, retries: int = 32,
                 on_stale: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.session_id = session_id
        self.session_settings = session_settings
        self._owns_core = core is None
        self.core = core_for("OpenAI Agents CoherentSession",
                             core if core is not None else CoherenceAdapterCore(engine=engine))
        self.coherence_disabled = self.core.coherence_disabled  # CCS_DISABLE: pass-through
        self.artifact = PREFIX + session_id
        self.agent = self.core.agent(agent)
        self.strict = strict
        self.retries = retries
        self.on_stale = on_stale
        self.stale_appends: list[dict[str, Any]] = []
        self._view: int | None = None  # this object's own view (direct calls)

    # --- views ---------------------------------------------------------------------------------

    def view(self, wrapper: Any = None) -> int | None:
        """The transcript version the caller (a run's wrapper, else this object) last saw."""
        if wrapper is None:
            return self._view
        return (getattr(wrapper, _VIEWS, None) or {}).get(self.artifact)

    def _see(self, wrapper: Any, version: int) -> None:
        self._view = version
        if wrapper is not None:
            views = getattr(wrapper, _VIEWS, None)
            if views is None:
                views = {}
                try:
                    setattr(wrapper, _VIEWS, views)
                except (AttributeError, TypeError):
                    return
            views[self.artifact] = version

    # --- the Session protocol (async; engine calls in a worker thread) -------------------------

    async def get_items(self, limit: int | None = None, wrapper: Any = None) -> list[Any]:
        if limit is None and self.session_settings is not None:
            limit = getattr(self.session_settings, "limit", None)
        items, version = await bridge.offload(self.agent, self._read)
        self._see(wrapper, version)
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        return items

    async def add_items(self, items: list[Any], wrapper: Any = None) -> None:
        if not items:
            return
        await bridge.offload(self.agent, self._append, list(items), wrapper)

    async def pop_item(self, wrapper: Any = None) -> Any:
        return await bridge.offload(self.agent, self._pop, wrapper)

    async def clear_session(self, wrapper: Any = None, *, blind: bool = False) -> None:
        await bridge.offload(self.agent, self._clear, wrapper, blind)

    # --- synchronous bodies (under the agent's lock) -------------------------------------------

    def _read(self) -> tuple[list[Any], int]:
        snap = self.agent.read_with_version(self.artifact, None)
        return (list(snap.value) if isinstance(snap.value, list) else []), snap.version

    def _append(self, items: list[Any], wrapper: Any) -> None:
        base = self.view(wrapper)
        for _ in range(self.retries + 1):
            current, version = self._read()
            stale = base is not None and version != base
            if stale and self.strict and not self.coherence_disabled:
                raise self._stale("add_items", version, base)
            try:
                new = self.agent.commit_cas(self.artifact, version, current + items)
            except VersionConflict:
                continue  # another append won this round: append on top of it
            if stale:
                record = {"session_id": self.session_id, "seen": base, "appended_on": version,
                          "version": new, "items": len(items)}
                self.stale_appends.append(record)
                if self.on_stale is not None:
                    self.on_stale(record)
                # the caller still has not seen what others added: its view stays behind (a
                # run's view; this object's own view moves when a run made the change)
                if wrapper is not None:
                    self._view = new
            else:
                self._see(wrapper, new)
            return
        raise RetriesExhausted(f"add_items on session {self.session_id!r} lost "
                               f"{self.retries + 1} races in a row", artifact=self.artifact,
                               attempts=self.retries + 1)

    def _pop(self, wrapper: Any) -> Any:
        current, version = self._read()
        base = self.view(wrapper)
        if base is None and version == 0:
            return None
        if base != version and not self.coherence_disabled:  # CCS_DISABLE: pops unchecked
            raise self._stale("pop_item", version, base)
        if not current:
            return None
        new = self._cas(version, current[:-1], "pop_item", base)
        self._see(wrapper, new)
        return current[-1]

    def _clear(self, wrapper: Any, blind: bool) -> None:
        current, version = self._read()
        base = self.view(wrapper)
        if not (blind or self.coherence_disabled) and base != version and current:
            raise self._stale("clear_session", version, base)
        if not current:
            self._see(wrapper, version)
            return
        self._see(wrapper, self._cas(version, [], "clear_session", base))

    def _cas(self, version: int, value: list[Any], op: str, base: int | None) -> int:
        try:
            return self.agent.commit_cas(self.artifact, version, value)
        except VersionConflict as err:
            raise self._stale(op, err.current_version, base) from err

    def _stale(self, op: str, current: int | None, base: int | None) -> StaleView:
        seen = "never read it" if base is None else f"last saw v{base}"
        return StaleView(
            f"{op} on session {self.session_id!r} refused: the transcript is at v{current} and this "
            f"caller {seen}; nothing was changed", artifact=self.artifact, current_version=current,
            recover="get_items() to see the current history, then decide again")

    def close(self) -> None:
        if self._owns_core:
            self.core.close()

    def __repr__(self) -> str:
        return f"CoherentSession({self.session_id!r}, artifact={self.artifact!r})"
