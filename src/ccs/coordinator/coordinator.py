"""Runs protocol transitions as transactions on an engine and publishes their events.

The coordinator is a library object, not a server: every process that opens the same engine URL
gets its own coordinator, and the engine's transactions are what serialize them.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

from ccs import failpoints
from ccs.backends import Backend, agent_key, artifact_key, open_backend, owns_key
from ccs.backends.base import ARTIFACT_PREFIX
from ccs.bus import Bus, default_bus_for, open_bus
from ccs.coordinator.clock import Clock, SystemClock
from ccs.coordinator.config import CrashRecoveryConfig, Limits
from ccs.coordinator.inspection import Inspection
from ccs.coordinator.running import Payload, Running
from ccs.coordinator.sweep import sweep_one
from ccs.observe.events import Observer, observer_list
from ccs.observe.hooks import observed
from ccs.protocol import liveness
from ccs.protocol import transitions as tr
from ccs.protocol.errors import InvalidArgument, UnknownEngine
from ccs.protocol.ids import _KNOWN_AGENT_IDS as KNOWN_AGENT_IDS
from ccs.protocol.ids import _KNOWN_ARTIFACT_IDS as KNOWN_ARTIFACT_IDS
from ccs.protocol.ids import check_agent_id, check_artifact_id, check_request_ids
from ccs.protocol.messages import Committed, ReclaimNote, Step, TxnCommitted, View
from ccs.protocol.records import AgentRecord

RECENT_RECLAIMS = 1000
FETCH_ATTEMPTS = 8
_SUPERSEDED = object()


def _check_type(name: str, value: object, cls: type) -> None:
    if value is not None and not isinstance(value, cls):
        raise InvalidArgument(f"{name} must be a {cls.__name__}, got {type(value).__name__}",
                              parameter=name)


class Coordinator(Inspection, Running):
    def __init__(
        self,
        engine: str | Backend = "memory://",
        *,
        bus: str | Bus | None = None,
        clock: Clock | None = None,
        crash_recovery: CrashRecoveryConfig | None = None,
        limits: Limits | None = None,
    ) -> None:
        _check_type("crash_recovery", crash_recovery, CrashRecoveryConfig)
        _check_type("limits", limits, Limits)
        observers = observer_list()  # CCS_TELEMETRY, read once, before anything is opened
        if clock is not None and not callable(getattr(clock, "now", None)):
            raise InvalidArgument(f"clock must have a now() method, got {type(clock).__name__}",
                                  parameter="clock")
        if bus is not None and not isinstance(bus, str | Bus):
            raise UnknownEngine(f"bus must be a URL or a Bus, got {type(bus).__name__}")
        self.backend = engine if isinstance(engine, Backend) else open_backend(engine)
        if bus is None:
            self.bus = default_bus_for(self.backend)
        elif isinstance(bus, str):
            self.bus = open_bus(bus, self.backend)
        else:
            self.bus = bus
        # The bus's notice of a commit's events, sent in the commit itself, when the bus listens
        # on the engine's own store (ccs.backends.base); None: published after the commit.
        self._carry = self.bus.carrier(self.backend)
        self.clock = clock or SystemClock()
        self.crash_recovery = crash_recovery or CrashRecoveryConfig()
        self.limits = limits or Limits()
        cr = self.crash_recovery
        self._next_sweep = self.clock.now() + cr.sweep_interval if cr.enabled else math.inf
        self.reclaims: deque[ReclaimNote] = deque(maxlen=RECENT_RECLAIMS)  # the latest, for inspection
        self.observers: list[Observer] = observers  # told of every operation (ccs.observe); none: no cost
        self._key_sets: dict[tuple[str, str], tuple[str, ...]] = {}

    # --- plumbing (the rest is Running's: running.py) -----------------------------------------

    def _now(self) -> float:
        now = self.clock.now()
        if now >= self._next_sweep:
            self._sweep_due(now)
        return now

    def _sweep_due(self, now: float) -> None:
        """The piggybacked sweep, at most every ``sweep_interval`` s (``_next_sweep``: when the
        next one is due, infinity with crash recovery off). Operations inline ``_now``'s test."""
        self._next_sweep = now + self.crash_recovery.sweep_interval
        self.sweep(now)

    # --- operations ----------------------------------------------------------------------------

    @observed("read")
    def read(self, agent: str, artifact_id: str, known_version: int | None = None,
             invalidated: bool = False) -> tuple[View, bytes | None]:
        """``invalidated``: the caller's copy was invalidated by an event, so it is no longer a
        sharer at the current version; the read goes straight to the transaction that registers
        it (a networked engine saves the round trip of the snapshot, which would only say so)."""
        if (agent.__class__ is not str or agent not in KNOWN_AGENT_IDS  # (check_request_ids'
                or artifact_id.__class__ is not str  # common case, inline)
                or artifact_id not in KNOWN_ARTIFACT_IDS):
            check_request_ids(agent, artifact_id)
        key = ARTIFACT_PREFIX + artifact_id
        backend = self.backend
        for _ in range(FETCH_ATTEMPTS):
            now = self.clock.now()
            if now >= self._next_sweep:  # (_now, inline)
                self._sweep_due(now)
            snapshot = None if invalidated else backend.get(key)
            if snapshot is not None and (
                    snapshot.owner.agent == agent if snapshot.owner is not None
                    else snapshot.sharers.get(agent) == snapshot.version):
                # Already a sharer at the current version (or the owner): nothing to record.
                view = View(artifact_id, snapshot.version, snapshot.epoch, snapshot.seq,
                            snapshot.content, snapshot.view_of(agent), known_version != snapshot.version)
            else:
                view = self._run((key,), tr.read, args=(artifact_id, agent, known_version, now),
                                 now=now, audits=False)
            digest = view.content.digest
            if not view.modified or digest is None:
                return view, None  # the caller's copy is current, or there is no content
            if failpoints._armed is None:  # (else _fetch_view, which reaches the failpoint)
                data = backend.get_blob(digest)
                if data is not None:
                    return view, data
            data = self._fetch_view(view, artifact_id)
            if data is not _SUPERSEDED:
                return view, data
        raise self._missing(view.content, artifact_id)

    @observed("acquire")
    def acquire(self, agent: str, artifact_id: str, known_version: int | None = None
                ) -> tuple[View, bytes | None]:
        check_request_ids(agent, artifact_id)
        now = self._now()
        keys = self._ownership_keys(artifact_id, agent)
        for _ in range(FETCH_ATTEMPTS):
            view = self._run(keys, tr.acquire, args=(artifact_id, agent, known_version, now),
                             agent=agent, artifact=artifact_id, owner=True)
            data = self._fetch_view(view, artifact_id)
            if data is not _SUPERSEDED:
                return view, data
        raise self._missing(view.content, artifact_id)

    def _fetch_view(self, view: View, artifact_id: str) -> Any:
        """The content a view needs (None if the caller's copy is current), or ``_SUPERSEDED``:
        newer commits and a ``gc()`` removed the viewed version's content between the record read
        and the content read, so the caller must look again. Content missing from the *current*
        record is damage, reported as ``corrupt_state``."""
        if not view.modified or view.content.digest is None:
            return None
        failpoints.hit("coordinator.before_fetch", artifact=artifact_id, view=view)
        data = self.backend.get_blob(view.content.digest)
        if data is not None:
            return data
        current = self.artifact(artifact_id)
        if current is not None and current.content.digest != view.content.digest:
            return _SUPERSEDED
        raise self._missing(view.content, artifact_id)

    # The three commits of one artifact: each runs its transition (tr.commit, tr.write,
    # tr.commit_cas) directly on the record the engine read, without a closure per call.
    # ``new_id=True`` says ``commit_id`` was made for this call and was never sent before (the
    # agent's first attempt): no record can remember it, so the transition skips the lookup that
    # answers a retried commit (ccs.protocol.transitions). A retry must leave it False.

    @observed("commit")
    def commit(self, agent: str, artifact_id: str, grant_epoch: int, base_version: int,
               payload: Payload, commit_id: str | None = None, *, new_id: bool = False
               ) -> Committed:
        check_request_ids(agent, artifact_id)
        blobs: dict[str, bytes] = {}
        content = self._content(payload, artifact_id, blobs)
        now = self._now()
        return self._run((ARTIFACT_PREFIX + artifact_id,), tr.commit, blobs, commit_id, args=(
            artifact_id, agent, grant_epoch, base_version, content, now, commit_id,
            self.limits.retain_versions, new_id), commits=True, op="commit", agent=agent,
            bases={artifact_id: base_version}, now=now, artifact=artifact_id)

    @observed("write")
    def write(self, agent: str, artifact_id: str, base_version: int | None,
              base_epoch: int | None, payload: Payload, commit_id: str | None = None, *,
              new_id: bool = False) -> Committed:
        if (agent.__class__ is not str or agent not in KNOWN_AGENT_IDS  # (check_request_ids'
                or artifact_id.__class__ is not str  # common case, inline)
                or artifact_id not in KNOWN_ARTIFACT_IDS):
            check_request_ids(agent, artifact_id)
        blobs: dict[str, bytes] = {}
        content = self._content(payload, artifact_id, blobs)
        now = self.clock.now()
        if now >= self._next_sweep:  # (_now, inline)
            self._sweep_due(now)
        keys = self._key_sets.get((agent, artifact_id)) or self._ownership_keys(artifact_id, agent)
        return self._run(keys, tr.write, blobs, commit_id, args=(
            artifact_id, agent, base_version, base_epoch, content, now, commit_id,
            self.limits.retain_versions, new_id), commits=True, op="write", agent=agent,
            bases={artifact_id: base_version}, now=now, artifact=artifact_id, owner=True)

    @observed("commit_cas")
    def commit_cas(self, agent: str, artifact_id: str, expected_version: int,
                   read_epoch: int | None, payload: Payload,
                   commit_id: str | None = None, *, new_id: bool = False) -> Committed:
        if (agent.__class__ is not str or agent not in KNOWN_AGENT_IDS  # (check_request_ids'
                or artifact_id.__class__ is not str  # common case, inline)
                or artifact_id not in KNOWN_ARTIFACT_IDS):
            check_request_ids(agent, artifact_id)
        blobs: dict[str, bytes] = {}
        content = self._content(payload, artifact_id, blobs)
        now = self.clock.now()
        if now >= self._next_sweep:  # (_now, inline)
            self._sweep_due(now)
        return self._run((ARTIFACT_PREFIX + artifact_id,), tr.commit_cas, blobs, commit_id, args=(
            artifact_id, agent, expected_version, read_epoch, content, now, commit_id,
            self.limits.retain_versions, new_id), commits=True, op="cas", agent=agent,
            bases={artifact_id: expected_version}, now=now, artifact=artifact_id)

    @observed("transaction")
    def transaction_commit(self, agent: str, reads: Mapping[str, tuple[int, int | None]],
                           writes: Mapping[str, Payload], commit_id: str | None = None
                           ) -> TxnCommitted:
        check_agent_id(agent)
        for aid in [*reads, *writes]:
            check_artifact_id(aid)
        blobs: dict[str, bytes] = {}
        contents = {aid: self._content(p, aid, blobs) for aid, p in writes.items()}
        now = self._now()
        ids = sorted(set(reads) | set(writes))
        retain = self.limits.retain_versions
        keys = [artifact_key(a) for a in ids]
        return self._run_commit(ids[0] if ids else "", keys, lambda r: tr.transaction_commit(
            {a: r[artifact_key(a)] for a in ids}, agent, reads, contents, now,
            commit_id=commit_id, retain=retain), blobs, commit_id, op="transaction", agent=agent,
            bases={a: reads[a][0] if a in reads else None for a in writes})

    @observed("release")
    def release(self, agent: str, artifact_id: str) -> None:
        check_agent_id(agent)
        key = artifact_key(check_artifact_id(artifact_id))
        self._run([key], lambda r: tr.release(r[key], agent))

    @observed("evict")
    def evict(self, agent: str, artifact_id: str) -> None:
        check_agent_id(agent)
        key = artifact_key(check_artifact_id(artifact_id))
        self._run([key], lambda r: tr.evict(r[key], agent))

    @observed("heartbeat")
    def heartbeat(self, agent: str) -> AgentRecord:
        check_agent_id(agent)
        now = self._now()
        key = agent_key(agent)
        ttl = self.crash_recovery.heartbeat_ttl

        def fn(r: dict[str, Any]) -> Step:
            rec = liveness.heartbeat(r[key], agent, ttl, now)
            return Step(rec, agents={agent: rec})

        rec = self._run([key], fn)
        if rec.owned:  # written by the previous layout: moved to the index once, here
            entries = {owns_key(agent, a): a for a in sorted(rec.owned)}
            rec = self._run([key, *entries], lambda r: liveness.upgrade(
                r[key], [a for k, a in entries.items() if r[k] is None],
                [a for k, a in entries.items() if r[k] is not None]), op="upgrade")
        return rec

    @observed("sweep")
    def sweep(self, now: float | None = None) -> list[ReclaimNote]:
        """Reclaim the grants of every agent whose heartbeat TTL ran out; returns why, per grant."""
        now = self.clock.now() if now is None else now
        notes: list[ReclaimNote] = []
        for key, rec in self.backend.records("g/"):  # one bulk read; each reclaim re-checks
            notes.extend(sweep_one(self, key, rec, now))
        self.reclaims.extend(notes)
        return notes

    @observed("gc")
    def gc(self, min_age: float = 3600.0) -> int:
        """Delete content that no record references (current or retained version) and that was
        stored more than ``min_age`` seconds ago; returns how many blobs were deleted.

        Safe from any process at any time, with any ``min_age``, while others commit: a commit
        stores its content in the same engine transaction as the record that references it, and
        the engine runs the collection atomically with respect to those transactions (see
        ``ccs.backends.base``). The age only spares content stored with ``put_blob`` alone.
        """
        return self.backend.collect_garbage(time.time() - min_age)

    def close(self) -> None:
        self.bus.close()
        self.backend.close()

