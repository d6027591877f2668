"""The agent handle: a local cache of artifacts kept coherent, and checked writes.

A read serves the cached copy while the strategy says it is fresh; otherwise it asks the store,
which moves content only if the version changed. A write carries the version and epoch the new
content was derived from, and the store refuses it if either moved (``StaleView``,
``GrantReclaimed``, ...). The agent never applies a write locally that the store did not accept.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ccs import failpoints
from ccs.client import merge as merging
from ccs.client.codec import decode, encode
from ccs.client.entries import MISSING, AgentStats, Entry, Versioned, new_commit_id
from ccs.observe.events import HIT, ObservedOp, dispatch
from ccs.protocol.arguments import check_int, check_number
from ccs.protocol.errors import (
    ConflictError,
    GrantReclaimed,
    InvalidArgument,
    InvalidIdentifier,
    OutcomeUnknown,
    RetriesExhausted,
    StaleEpoch,
    UnknownArtifact,
    VersionConflict,
)
from ccs.protocol.ids import check_artifact_id, instance_agent_id
from ccs.protocol.messages import Committed, Event, View
from ccs.protocol.records import Mesi

if TYPE_CHECKING:
    from ccs.client.core import CoherenceAdapterCore
    from ccs.client.effects import Effect, EffectRecord
    from ccs.client.transaction import Transaction

def _bad_id(artifact_id: object) -> Exception:
    try:
        check_artifact_id(artifact_id)
    except InvalidIdentifier as err:
        return err
    return InvalidIdentifier(f"invalid artifact id {artifact_id!r}")



class Agent:
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
        self.stats = AgentStats()
        self._observers = core.coordinator.observers  # the same list: cache hits are reported too
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
            raise _bad_id(artifact_id) from None
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
            raise _bad_id(artifact_id) from None

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
        old = self._lookup(artifact_id) if self.strategy.caches else None
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
            view, data = self.core.call_with_retry(self.coordinator.read, self.id, artifact_id,
                                                   known, invalidated)
        return self._install(artifact_id, view, data, old)

    def _install(self, artifact_id: str, view: View, data: bytes | None, old: Entry | None,
                 counted: bool = False) -> Entry:
        if view.modified or old is None:
            if not counted:
                self.stats.misses += 1
                self.stats.bytes_fetched += 0 if data is None else len(data)
            value = decode(data, view.content.kind) if view.content.kind != "json" else None
        else:
            self.stats.not_modified += 1
            data, value = old.data, old.value
        valid = self._invalid_after.get(artifact_id, -1) <= view.seq
        state = view.state if view.state is not Mesi.INVALID else Mesi.SHARED
        entry = Entry(view.version, view.epoch, view.seq, view.content, data, value, valid, state,
                      self.core.clock.now())
        self._cache[artifact_id] = entry
        return entry

    def _install_commit(self, artifact_id: str, c: Committed, data: bytes, kind: str,
                        value: Any, owner: bool) -> None:
        if c.superseded:  # our retried commit had landed, and a peer has committed since
            entry = self._cache.get(artifact_id)
            if entry is not None:
                entry.valid = False
            return
        value = value if kind in ("bytes", "str") else None
        valid = self._invalid_after.get(artifact_id, -1) <= c.seq
        state = Mesi.MODIFIED if owner else Mesi.SHARED
        self._cache[artifact_id] = Entry(c.version, c.epoch, c.seq, c.content, data, value, valid,
                                         state, self.core.clock.now())

    # --- writes --------------------------------------------------------------------------------

    def write(self, artifact_id: str, value: Any, *, blind: bool = False,
              merge: Any = None, merge_retries: int = 8) -> int:
        """Commit ``value`` as derived from this agent's view of the artifact.

        Refused with ``StaleView`` if a peer committed since that view, with ``GrantReclaimed``
        or ``StaleEpoch`` if crash recovery reclaimed a grant since. An agent that never read the
        artifact is taken to expect it absent (create); ``blind=True`` skips every check (last
        write wins) and must be asked for explicitly. Returns the new version.

        ``merge="auto"`` (or a function ``(base, theirs, yours) -> merged``): a stale refusal is
        answered by a three-way merge with the current version, committed by compare-and-set
        (``ccs.client.merge``); returns a ``MergedVersion`` saying whether it merged, or raises
        ``MergeConflict`` (overlapping edits) with nothing written.
        """
        if merge is not None:
            check_int("merge_retries", merge_retries, minimum=0)
            if blind:
                raise InvalidArgument("blind=True skips the check a merge answers: pass one or the "
                                      "other", parameter="merge", artifact=artifact_id)
            return merging.write(self, artifact_id, value, merge, merge_retries)
        data, kind = encode(value, artifact_id)
        entry = self._lookup(artifact_id)
        if blind:
            base_version = base_epoch = None
        elif entry is None:
            base_version, base_epoch = 0, None
        else:
            base_version, base_epoch = entry.version, entry.epoch
        try:
            c = self._commit(artifact_id, self.coordinator.write, self.id, artifact_id,
                             base_version, base_epoch, (data, kind))
        except ConflictError as exc:
            merging.attach(exc, self, artifact_id, base_version, entry, (data, kind))
            raise
        self._install_commit(artifact_id, c, data, kind, value, owner=True)
        self.holds_grants = True
        return c.version

    def delete(self, artifact_id: str) -> int:
        entry = self._lookup(artifact_id)
        base = (0, None) if entry is None else (entry.version, entry.epoch)
        c = self._commit(artifact_id, lambda cid: self.coordinator.write(
            self.id, artifact_id, base[0], base[1], None, cid))
        self._install_commit(artifact_id, c, b"", "deleted", None, owner=True)
        return c.version

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

    def commit(self, artifact_id: str, value: Any) -> int:
        """Strict pessimistic commit: only under the grant this agent holds (see ``acquire``).

        Unlike ``write``, it fails with ``NotOwner`` if a peer's read or acquire took the grant
        away meanwhile, even when the version did not move."""
        data, kind = encode(value, artifact_id)
        entry = self._lookup(artifact_id)
        epoch, base = (0, 0) if entry is None else (entry.epoch, entry.version)
        c = self._commit(artifact_id, lambda cid: self.coordinator.commit(
            self.id, artifact_id, epoch, base, (data, kind), cid))
        self._install_commit(artifact_id, c, data, kind, value, owner=True)
        return c.version

    def commit_cas(self, artifact_id: str, expected_version: int, value: Any, *,
                   merge: Any = None, merge_retries: int = 8) -> int:
        """Compare-and-set: lands only if the artifact is still at ``expected_version`` (and at the
        epoch this agent read it at, when its view is of that version). ``merge`` as in
        ``write``, with ``expected_version`` as the merge base."""
        if merge is not None:
            check_int("merge_retries", merge_retries, minimum=0)
            return merging.commit_cas(self, artifact_id, expected_version, value, merge,
                                      merge_retries)
        return self.commit_payload(artifact_id, expected_version, encode(value, artifact_id),
                                   value).version

    def commit_payload(self, artifact_id: str, expected_version: int,
                       payload: tuple[bytes, str] | None, value: Any = None) -> Committed:
        """``commit_cas`` of already encoded content ``(data, kind)``; ``None`` deletes."""
        check_int("expected_version", expected_version, minimum=0)
        return self._commit_payload(artifact_id, expected_version, payload, value)

    def _commit_payload(self, artifact_id: str, expected_version: int,
                        payload: tuple[bytes, str] | None, value: Any = None) -> Committed:
        """``commit_payload`` with ``expected_version`` already checked (or taken from a view)."""
        entry = self._lookup(artifact_id)
        epoch = entry.epoch if entry is not None and entry.version == expected_version else None
        try:
            c = self._commit(artifact_id, self.coordinator.commit_cas, self.id, artifact_id,
                             expected_version, epoch, payload)
        except ConflictError as exc:
            merging.attach(exc, self, artifact_id, expected_version, entry, payload)
            raise
        data, kind = (b"", "deleted") if payload is None else payload
        self._install_commit(artifact_id, c, data, kind, data if value is None else value,
                             owner=entry is not None and entry.state is not Mesi.SHARED)
        return c

    def write_cas(self, artifact_id: str, fn: Callable[[Any], Any], retries: int = 8,
                  backoff: float = 0.001) -> int:
        """Read -> ``fn(old)`` -> compare-and-set, retried up to ``retries`` times on conflict.

        ``fn`` gets ``None`` for an absent artifact and must be safe to call again. Raises
        ``RetriesExhausted`` (with the current version) when every attempt lost its race."""
        if retries.__class__ is not int or retries < 0:  # (an int >= 0 passes check_int)
            check_int("retries", retries, minimum=0)
        if backoff.__class__ is not float or not 0.0 <= backoff < math.inf:
            check_number("backoff", backoff, minimum=0)
        if not callable(fn):
            raise InvalidArgument(f"fn must be callable, got {type(fn).__name__}", parameter="fn")
        entry = self._lookup(artifact_id)
        if entry is None or not entry.valid or not self.strategy.caches:
            entry = self._fetch(artifact_id, acquire=False)
        last: Exception | None = None
        for attempt in range(retries + 1):
            old = self._value(entry, artifact_id, None)
            new = fn(old)
            try:
                return self._commit_payload(artifact_id, entry.version,
                                            encode(new, artifact_id), new).version
            except (VersionConflict, StaleEpoch, GrantReclaimed) as exc:
                last = exc
                if attempt < retries and backoff:
                    time.sleep(random.uniform(0, backoff * (2 ** min(attempt, 6))))
                entry = self._fetch(artifact_id, acquire=False)
        current = self._lookup(artifact_id)
        raise RetriesExhausted(
            f"write_cas on {artifact_id!r} lost {retries + 1} races in a row",
            artifact=artifact_id, current_version=None if current is None else current.version,
            current_epoch=None if current is None else current.epoch,
            attempts=retries + 1, last_error=None if last is None else last.to_dict(),
        )

    def _commit(self, artifact_id: str, call: Callable[..., Committed], *args: Any) -> Committed:
        """``call(*args, commit_id)`` with a new idempotency id, retried (``call_with_retry``)."""
        commit_id = new_commit_id()
        failpoints.hit("client.before_commit", agent=self, artifact=artifact_id)
        try:
            c = self.core.call_with_retry(call, *args, commit_id)
        except (ConflictError, OutcomeUnknown) as exc:  # unknown: ours may have landed, revalidate
            self.stats.conflicts += isinstance(exc, ConflictError)
            entry = self._lookup(artifact_id)
            if entry is not None:
                entry.valid = False
                entry.prefetched = None  # fetched before the conflict: maybe older than it reported
            raise
        self.stats.commits += 1
        return c

    # --- grants, liveness, cache ----------------------------------------------------------------

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
