"""The agent handle: a local cache of artifacts kept coherent, and checked writes.

A read serves the cached copy while the strategy says it is fresh; otherwise it asks the store,
which moves content only if the version changed. The writes (``ccs.client.writes``) carry the
version and epoch the new content was derived from, and the store refuses one if either moved.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from ccs.client.codec import decode
from ccs.client.entries import MISSING, AgentStats, Entry, Versioned, bad_id
from ccs.client.writes import Writes
from ccs.observe.events import HIT, ObservedOp, dispatch
from ccs.observe.hooks import unobserved
from ccs.protocol.errors import CoherenceError, UnknownArtifact
from ccs.protocol.ids import instance_agent_id
from ccs.protocol.messages import Event, View
from ccs.protocol.records import Mesi

if TYPE_CHECKING:
    from ccs.client.core import CoherenceAdapterCore
    from ccs.client.effects import Effect, EffectRecord
    from ccs.client.transaction import Transaction


class Agent(Writes):
    """One agent of one ``CoherenceAdapterCore``. ``name`` is the readable name it was asked for
    (errors, logs, ``ccs status``); ``id`` is what the coordinator tracks, ``name@<instance
    token>``, so the same name in two processes (or two cores) is two agents that invalidate each
    other's copies."""

    def __init__(self, core: CoherenceAdapterCore, name: str) -> None:
        self.core = core
        self.name = name
        self.id = instance_agent_id(name, core.instance)
        self.coordinator = core.coordinator
        self.strategy = core.strategy
        self._plain = core.strategy.caches and core.strategy.ttl is None \
            and core.strategy.max_reads is None
        self._cache: dict[str, Entry] = {}
        self._invalid_after: dict[str, int] = {}
        self._turns = core._turns  # write_cas turns, shared by the core's agents (turns.py)
        self.stats = AgentStats()
        self._observers = core.coordinator.observers  # the same list: cache hits are reported too
        # The operations of the hot paths without their @observed wrapper, called while no
        # observer is registered (with one, through the wrapper: see _observed_or)
        self._read_direct = unobserved(self.coordinator, "read")
        self._write_direct = unobserved(self.coordinator, "write")
        self._cas_direct = unobserved(self.coordinator, "commit_cas")
        self._now = core.clock.now
        # Held by adapters around each call on this agent when several tasks share it, so an older
        # fetch never overwrites a newer commit in the cache (re-entrant: a held call may nest).
        self.lock = threading.RLock()
        self.holds_grants = False  # took a grant: its liveness must be kept up (see heartbeat.py)
        self.last_heartbeat = 0.0

    # --- reads ---------------------------------------------------------------------------------

    def read(self, artifact_id: str, default: Any = MISSING) -> Any:
        """The current value (from cache when fresh). Raises ``UnknownArtifact`` for an artifact
        never written (or deleted) unless ``default`` is given."""
        try:
            entry = self._cache.get(artifact_id)
        except TypeError:
            raise bad_id(artifact_id) from None
        if entry is not None and entry.valid and (self._plain or self._serves(entry)):
            entry.hits += 1
            self.stats.hits += 1
            if self._observers:
                self._observe_hit(artifact_id, entry)
        else:
            entry = self._fetch(artifact_id, acquire=False)
        if entry.content.kind == "str" and entry.value is not None:
            return entry.value
        return self._value(entry, artifact_id, default)

    def snapshot(self, artifact_id: str, default: Any = MISSING) -> Versioned:
        """Value, version and epoch as the strategy serves them (cache when fresh). Like ``read``,
        raises ``UnknownArtifact`` for an absent artifact unless ``default`` is given."""
        return self._versioned(self.view(artifact_id), artifact_id, default)

    def view(self, artifact_id: str, *, fresh: bool = False) -> Entry:
        """The cache entry a read is served from: the cached copy while the strategy serves it
        (no engine call, no copy), else one fetched now (always with ``fresh``). For adapters
        that keep their own decoded form of the content; do not mutate it."""
        entry = self._lookup(artifact_id)
        if (not fresh and entry is not None and entry.valid
                and (self._plain or self._serves(entry))):
            entry.hits += 1
            self.stats.hits += 1
            if self._observers:
                self._observe_hit(artifact_id, entry)
            return entry
        return self._fetch(artifact_id, acquire=False)

    def read_with_version(self, artifact_id: str, default: Any = MISSING) -> Versioned:
        """Value, version and epoch of the artifact as of a fresh check with the store. Like
        ``read``, raises ``UnknownArtifact`` for an absent artifact unless ``default`` is given."""
        return self._versioned(self._fetch(artifact_id, acquire=False), artifact_id, default)

    def _observe_hit(self, artifact_id: str, seen: Entry | View) -> None:
        dispatch(self._observers, ObservedOp(
            "read", (artifact_id,), self.id, self.name, seen.version, seen.version, seen.epoch,
            cache=HIT, start_ns=time.time_ns()))

    def _versioned(self, entry: Entry, artifact_id: str, default: Any) -> Versioned:
        absent = entry.version == 0 or entry.content.digest is None
        return Versioned(self._value(entry, artifact_id, default), entry.version, entry.epoch, absent)

    def _lookup(self, artifact_id: str) -> Entry | None:
        try:
            return self._cache.get(artifact_id)
        except TypeError:
            raise bad_id(artifact_id) from None

    def _serves(self, entry: Entry) -> bool:
        strategy = self.strategy
        return strategy.caches and strategy.fresh(entry.validated_at, entry.hits,
                                                  self.core.clock.now())

    def _value(self, entry: Entry, artifact_id: str, default: Any) -> Any:
        if entry.version == 0 or entry.content.digest is None:
            if default is MISSING:
                raise UnknownArtifact(
                    f"{artifact_id!r} does not exist" + (" (deleted)" if entry.version else ""),
                    artifact=artifact_id, current_version=entry.version, current_epoch=entry.epoch)
            return default
        if entry.content.kind == "json":
            return json.loads(entry.data)  # a private copy: callers may mutate it
        return entry.value

    def _fetch(self, artifact_id: str, *, acquire: bool) -> Entry:
        old = None
        if self.strategy.caches:
            try:  # (_lookup, inline: every read miss passes here)
                old = self._cache.get(artifact_id)
            except TypeError:
                raise bad_id(artifact_id) from None
        known = None if old is None else old.version
        if acquire:
            view, data = self.core.call_with_retry(self.coordinator.acquire, self.id, artifact_id,
                                                   known)
            self.holds_grants = True
        elif (old is not None and old.prefetched is not None
              and self._invalid_after.get(artifact_id, -1) <= old.prefetched[0].seq):
            view, data = old.prefetched
            self.stats.hits += 1  # the content moved when the invalidation arrived
            if self._observers:
                self._observe_hit(artifact_id, view)
            return self._install(artifact_id, view, data, old, counted=True)
        else:
            invalidated = old is not None and self._invalid_after.get(artifact_id, -1) > old.seq
            args = (self.id, artifact_id, known, invalidated)
            try:  # call_with_retry's first attempt, inline
                view, data = (self.coordinator.read if self._observers
                              else self._read_direct)(*args)
            except CoherenceError as exc:
                view, data = self.core._retry(self.coordinator.read, args, exc)
        return self._install(artifact_id, view, data, old)

    def _install(self, artifact_id: str, view: View, data: bytes | None, old: Entry | None,
                 counted: bool = False) -> Entry:
        if view.modified or old is None:
            if not counted:
                self.stats.misses += 1
                self.stats.bytes_fetched += 0 if data is None else len(data)
            kind = view.content.kind
            if kind == "str" and data is not None:
                value = data.decode("utf-8")  # (decode's common case)
            else:
                value = decode(data, kind) if kind != "json" else None
        else:
            self.stats.not_modified += 1
            data, value = old.data, old.value
        valid = self._invalid_after.get(artifact_id, -1) <= view.seq
        state = view.state if view.state is not Mesi.INVALID else Mesi.SHARED
        entry = Entry(view.version, view.epoch, view.seq, view.content, data, value, valid, state,
                      self._now())
        self._cache[artifact_id] = entry
        return entry

    # --- grants, liveness, cache ----------------------------------------------------------------

    def acquire(self, artifact_id: str, default: Any = None) -> Any:
        """Take the exclusive grant (E) and refresh the view; returns the current value
        (``default`` when the artifact does not exist yet)."""
        entry = self._fetch(artifact_id, acquire=True)
        return self._value(entry, artifact_id, default)

    def reacquire(self, artifact_id: str, default: Any = None) -> Any:
        """Recover from a refused write: take the grant, refresh to the current version.

        Returns the current value (``default`` if the artifact does not exist); re-derive the
        change from it and write again."""
        return self.acquire(artifact_id, default)

    def release(self, artifact_id: str) -> None:
        self.core.call_with_retry(lambda: self.coordinator.release(self.id, artifact_id))
        entry = self._lookup(artifact_id)
        if entry is not None:
            entry.state = Mesi.SHARED

    def evict(self, artifact_id: str) -> None:
        self.core.call_with_retry(lambda: self.coordinator.evict(self.id, artifact_id))
        self._cache.pop(artifact_id, None)

    def heartbeat(self) -> None:
        self.core.call_with_retry(lambda: self.coordinator.heartbeat(self.id))
        self.last_heartbeat = self.core.clock.now()
        self.holds_grants = True  # asked to be live (e.g. to receive a handoff): stay live

    def handoff(self, artifact_id: str, to: Any) -> int:
        """Pass this agent's exclusive grant to ``to`` in one step (``ccs.client.handoff``)."""
        from ccs.client.handoff import handoff

        return handoff(self, artifact_id, to)

    def state(self, artifact_id: str) -> Mesi:
        """This agent's MESI state for the artifact as its cache sees it."""
        entry = self._lookup(artifact_id)
        if entry is None or not entry.valid:
            return Mesi.INVALID
        return entry.state

    def cached_version(self, artifact_id: str) -> int | None:
        entry = self._lookup(artifact_id)
        return None if entry is None else entry.version

    def render_context(self, ids: Any, *, role: str = "", turn: str = "", mode: str = "stateless",
                       preset: Any = "anthropic", shared: Any = (), now: float | None = None) -> Any:
        """The prompt for a turn that reads ``ids``, rebuilt statelessly for a provider prompt
        cache (``preset``: "anthropic", "openai", "no-cache"); see :mod:`ccs.tokens.stateless`."""
        from ccs.tokens.stateless import render_for_agent

        return render_for_agent(self, ids, role=role, turn=turn, mode=mode, preset=preset,
                                shared=shared, now=now)

    def transaction(self) -> Transaction:
        from ccs.client.transaction import Transaction

        return Transaction(self)

    def effect(self, depends_on: Any) -> Effect:
        """Gate a side effect on these inputs as read (``ccs.client.effects``)."""
        from ccs.client.effects import Effect

        return Effect(self, depends_on)

    def pending_effects(self, *, all_agents: bool = False) -> list[EffectRecord]:
        from ccs.client.effects import effects

        return effects(self, all_agents=all_agents, status="pending")

    def prune_effects(self, *, older_than: float) -> list[str]:
        """Delete done effect records older than ``older_than`` s (``ccs.client.effects.prune``)."""
        from ccs.client.effects import prune

        return prune(self, older_than)

    def resume_effects(self, handlers: Any, **options: Any) -> list[EffectRecord]:
        """Run pending effects again with their own keys (``ccs.client.effects.resume``)."""
        from ccs.client.effects import resume

        return resume(self, handlers, **options)

    # --- invalidations (called by the core's bus listener) ---------------------------------------

    def _on_event(self, event: Event) -> None:
        aid = event.artifact
        if event.kind == "downgrade":
            entry = self._cache.get(aid)
            if entry is not None and entry.seq < event.seq:
                entry.state = Mesi.SHARED
            return
        if self._invalid_after.get(aid, -1) < event.seq:
            self._invalid_after[aid] = event.seq
        entry = self._cache.get(aid)
        if entry is None or entry.seq >= event.seq:
            return
        entry.valid = False
        entry.state = Mesi.SHARED
        self.stats.invalidations += 1
        if self.strategy.refetch_on_invalidate and event.kind == "invalidate":
            view, data = entry.prefetched = self.coordinator.read(self.id, aid, entry.version, True)
            if view.modified:
                self.stats.misses += 1
                self.stats.bytes_fetched += 0 if data is None else len(data)

    def _on_gap(self, artifact_id: str, missed_up_to: int | None = None) -> None:
        """Events of the artifact up to ``missed_up_to`` (all, if None) may have been missed:
        a copy older than that can no longer be trusted to have heard of a commit."""
        entry = self._lookup(artifact_id)
        if entry is not None and (missed_up_to is None or entry.seq < missed_up_to):
            entry.valid = False
            entry.prefetched = None  # eager: fetched before the missed events, maybe older

    def __repr__(self) -> str:
        return f"Agent({self.name!r}, strategy={self.strategy.name!r})"
