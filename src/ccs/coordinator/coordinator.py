"""Runs protocol transitions as transactions on an engine and publishes their events.

The coordinator is a library object, not a server: every process that opens the same engine URL
gets its own coordinator, and the engine's transactions are what serialize them.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ccs import failpoints
from ccs.backends import Backend, agent_key, artifact_key, open_backend, owns_key
from ccs.backends.base import ARTIFACT_PREFIX
from ccs.bus import Bus, default_bus_for, open_bus
from ccs.coordinator.clock import Clock, SystemClock
from ccs.coordinator.config import CrashRecoveryConfig, Limits
from ccs.coordinator.inspection import Inspection
from ccs.coordinator.sweep import sweep_one
from ccs.observe.events import Observer, observer_list
from ccs.observe.hooks import note_events, observed
from ccs.protocol import liveness
from ccs.protocol import transitions as tr
from ccs.protocol.audit import AuditBatch, entries_for, refusals
from ccs.protocol.errors import (
    BackendUnavailable,
    CoherenceError,
    ConflictError,
    InvalidArgument,
    OutcomeUnknown,
    PayloadTooLarge,
    UnknownEngine,
)
from ccs.protocol.ids import check_agent_id, check_artifact_id, check_request_ids
from ccs.protocol.messages import Committed, ReclaimNote, Step, TxnCommitted, View
from ccs.protocol.records import DELETED, AgentRecord, Content, OwnershipEntry

Payload = tuple[bytes, str] | None  # (data, kind); None deletes
RECENT_RECLAIMS = 1000
FETCH_ATTEMPTS = 8
KEY_SETS_KEPT = 4096  # (agent, artifact) key tuples remembered (cleared when full)
_SUPERSEDED = object()


def _check_type(name: str, value: object, cls: type) -> None:
    if value is not None and not isinstance(value, cls):
        raise InvalidArgument(f"{name} must be a {cls.__name__}, got {type(value).__name__}",
                              parameter=name)


class Coordinator(Inspection):
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
        self._last_sweep = self.clock.now()
        self.reclaims: deque[ReclaimNote] = deque(maxlen=RECENT_RECLAIMS)  # the latest, for inspection
        self.observers: list[Observer] = observers  # told of every operation (ccs.observe); none: no cost
        self._key_sets: dict[tuple[str, str], tuple[str, ...]] = {}

    # --- plumbing -----------------------------------------------------------------------------

    def _run(self, keys: list[str], fn: Callable[[dict[str, Any]], Step],
             blobs: dict[str, bytes] | None = None, commit_id: str | None = None, *,
             commits: bool = False, op: str = "", agent: str | None = None,
             bases: Mapping[str, int | None] | None = None, now: float | None = None,
             audits: bool = True, artifact: str | None = None) -> Any:
        """Run ``fn`` as one engine transaction, storing ``blobs`` with its records. An operation
        that ``commits`` content and lost its reply is ``OutcomeUnknown`` naming its
        ``commit_id``; any other (a read's registration, acquire, release, heartbeat, sweep) has
        the same effect when repeated, so it is a plain ``BackendUnavailable``: retry it.

        The audit entries of the step's new versions and reclaims travel in the same engine
        transaction (``ccs.protocol.audit``). A conflict refuses the change: the engine rolled
        back, and the refusal of ``op`` (on the artifacts of ``bases``, each with the version the
        caller derived from) is appended on its own afterwards. ``audits=False``: a step that by
        its transition never logs (a read's registration: no new version, no reclaim).
        A commit that landed passes the ``coordinator.committed`` failpoint (``artifact``)."""
        retain = self.limits.audit_retain if audits else 0
        if now is None:  # a caller that already read the clock passes it: one reading per op
            now = self.clock.now() if retain else 0.0
        refused: list[dict[str, Any]] = []
        carry, dropped = self._carry, [False]

        def transaction(records: dict[str, Any]) -> tuple[dict[str, Any], Step, Any, Any]:
            try:
                step = fn(records)
            except ConflictError:
                refused[:] = [records]
                raise
            arts = step.artifacts
            changes: dict[str, Any] = {}
            before: dict[str, Any] = {}
            for a, r in arts.items():
                key = ARTIFACT_PREFIX + a
                changes[key] = r
                before[a] = records.get(key)
            if step.agents:
                for name, rec in step.agents.items():
                    changes[agent_key(name)] = rec
            if step.owns:
                for (name, aid), add in step.owns.items():
                    changes[owns_key(name, aid)] = OwnershipEntry(name, aid) if add else None
            audit = None
            if retain and arts:
                entries = entries_for(op, agent, before, arts, now, commit_id)
                if entries:
                    audit = AuditBatch(tuple(entries), retain)
            notice = None
            if carry is not None and step.events:  # decided per attempt: the last one commits
                dropped[0] = failpoints.hit("bus.publish", events=step.events) == "drop"
                notice = None if dropped[0] else carry(step.events)
            return changes, step, audit, notice

        failpoints.hit("coordinator.before_transact")
        try:
            step = self.backend.transact(keys, transaction, blobs)
        except OutcomeUnknown as exc:
            if not commits:
                raise BackendUnavailable(exc.message, **exc.details, recover=(
                    "retry: this operation has the same effect when repeated")) from exc.__cause__
            if commit_id is None:
                raise
            raise _with_commit_id(exc, commit_id, [k[2:] for k in keys if k.startswith("a/")]) \
                from exc.__cause__
        except ConflictError as exc:
            if refused and bases and retain and agent is not None:
                self._log_refusal(exc, op, agent, refused[0], bases, now, commit_id)
            raise
        events = step.events
        if events:
            if self.observers:
                note_events(events)
            if carry is not None:
                if not dropped[0]:
                    self.bus.deliver_local(events)
            elif failpoints.hit("bus.publish", events=events) != "drop":
                self.bus.publish(events)
        if commits:
            failpoints.hit("coordinator.committed", coordinator=self, artifact=artifact,
                           reply=step.reply)
        return step.reply

    def _log_refusal(self, exc: ConflictError, op: str, agent: str, records: dict[str, Any],
                     bases: Mapping[str, int | None], now: float, commit_id: str | None) -> None:
        """Append the refusal to the audit log in a small write of its own. The refusal is what
        the caller must hear: an engine that fails to log it does not turn it into another error
        (the entry is lost; no record changed)."""
        entries = refusals(op, agent, {a: records.get(artifact_key(a)) for a in bases}, bases,
                           exc.code, exc.message, now, commit_id)
        with contextlib.suppress(CoherenceError):
            self.backend.append_audit(AuditBatch(tuple(entries), self.limits.audit_retain))

    def _run_commit(self, artifact_id: str, keys: list[str], fn: Callable[[dict[str, Any]], Step],
                    blobs: dict[str, bytes], commit_id: str | None, *, op: str, agent: str,
                    bases: Mapping[str, int | None], now: float | None = None) -> Any:
        return self._run(keys, fn, blobs, commit_id, commits=True, op=op, agent=agent, bases=bases,
                         now=now, artifact=artifact_id)

    def _content(self, payload: Payload, artifact_id: str, blobs: dict[str, bytes]) -> Content:
        """Hash ``payload``; its bytes go into ``blobs``, which the engine stores in the same
        transaction as the record that references them (never earlier: see ``gc``)."""
        if payload is None:
            return DELETED
        data, kind = payload
        if len(data) > self.limits.max_content_bytes:
            raise PayloadTooLarge(
                f"content for {artifact_id!r} is {len(data)} bytes; the limit is "
                f"{self.limits.max_content_bytes}", artifact=artifact_id, size=len(data),
                limit=self.limits.max_content_bytes)
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return Content(digest, len(data), kind)

    def _now(self) -> float:
        now = self.clock.now()
        cr = self.crash_recovery
        if cr.enabled and now - self._last_sweep >= cr.sweep_interval:
            self._last_sweep = now
            self.sweep(now)
        return now

    def _ownership_keys(self, artifact_id: str, agent: str) -> tuple[str, ...]:
        """The keys a grant-taking transaction locks: the artifact's record and, with crash
        recovery, the agent's liveness record and its ownership index entry. Remembered per
        (agent, artifact): an engine that caches per key tuple (the memory engine's stripe
        locks) then sees the same tuple every time."""
        if not self.crash_recovery.enabled:
            return (artifact_key(artifact_id),)
        keys = self._key_sets.get((agent, artifact_id))
        if keys is None:
            keys = (artifact_key(artifact_id), agent_key(agent), owns_key(agent, artifact_id))
            if len(self._key_sets) >= KEY_SETS_KEPT:
                self._key_sets.clear()
            self._key_sets[(agent, artifact_id)] = keys
        return keys

    def _note_owner(self, step: Step, records: dict[str, Any], keys: tuple[str, ...],
                    artifact_id: str, agent: str, now: float) -> Step:
        """Refresh the agent's liveness and list ``artifact_id`` in its ownership index (for the
        sweep): a constant number of small records, whatever the agent already owns. ``keys``
        are the transaction's ``_ownership_keys``."""
        if len(keys) == 3:  # crash recovery on
            new = step.artifacts.get(artifact_id)
            if new is not None and new.owner is not None and new.owner.agent == agent:
                liveness.note_grant(records[keys[1]], records[keys[2]] is not None, agent,
                                    artifact_id, self.crash_recovery.heartbeat_ttl, now, into=step)
        return step

    # --- operations ----------------------------------------------------------------------------

    @observed("read")
    def read(self, agent: str, artifact_id: str, known_version: int | None = None,
             invalidated: bool = False) -> tuple[View, bytes | None]:
        """``invalidated``: the caller's copy was invalidated by an event, so it is no longer a
        sharer at the current version; the read goes straight to the transaction that registers
        it (a networked engine saves the round trip of the snapshot, which would only say so)."""
        check_request_ids(agent, artifact_id)
        key = ARTIFACT_PREFIX + artifact_id
        for _ in range(FETCH_ATTEMPTS):
            now = self._now()
            snapshot = None if invalidated else self.backend.get(key)
            if snapshot is not None and (
                    snapshot.owner.agent == agent if snapshot.owner is not None
                    else snapshot.sharers.get(agent) == snapshot.version):
                # Already a sharer at the current version (or the owner): nothing to record.
                view = View(artifact_id, snapshot.version, snapshot.epoch, snapshot.seq,
                            snapshot.content, snapshot.view_of(agent), known_version != snapshot.version)
            else:
                view = self._run([key], lambda r, now=now: tr.read(r[key], artifact_id, agent,
                                                                   known_version, now),
                                 now=now, audits=False)
            data = self._fetch_view(view, artifact_id)
            if data is not _SUPERSEDED:
                return view, data
        raise self._missing(view.content, artifact_id)

    @observed("acquire")
    def acquire(self, agent: str, artifact_id: str, known_version: int | None = None
                ) -> tuple[View, bytes | None]:
        check_request_ids(agent, artifact_id)
        now = self._now()
        key = ARTIFACT_PREFIX + artifact_id

        keys = self._ownership_keys(artifact_id, agent)

        def fn(r: dict[str, Any]) -> Step:
            step = tr.acquire(r[key], artifact_id, agent, known_version, now)
            if not step.artifacts:
                return step
            return self._note_owner(step, r, keys, artifact_id, agent, now)

        for _ in range(FETCH_ATTEMPTS):
            view = self._run(keys, fn)
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

    @observed("commit")
    def commit(self, agent: str, artifact_id: str, grant_epoch: int, base_version: int,
               payload: Payload, commit_id: str | None = None) -> Committed:
        check_request_ids(agent, artifact_id)
        blobs: dict[str, bytes] = {}
        content = self._content(payload, artifact_id, blobs)
        now = self._now()
        key = ARTIFACT_PREFIX + artifact_id
        retain = self.limits.retain_versions
        return self._run((key,), lambda r: tr.commit(
            r[key], artifact_id, agent, grant_epoch, base_version, content, now,
            commit_id=commit_id, retain=retain), blobs, commit_id, commits=True,
            op="commit", agent=agent, bases={artifact_id: base_version}, now=now,
            artifact=artifact_id)

    @observed("write")
    def write(self, agent: str, artifact_id: str, base_version: int | None,
              base_epoch: int | None, payload: Payload, commit_id: str | None = None) -> Committed:
        check_request_ids(agent, artifact_id)
        blobs: dict[str, bytes] = {}
        content = self._content(payload, artifact_id, blobs)
        now = self._now()
        keys = self._ownership_keys(artifact_id, agent)
        key = keys[0]
        retain = self.limits.retain_versions

        def fn(r: dict[str, Any]) -> Step:
            step = tr.write(r[key], artifact_id, agent, base_version, base_epoch, content, now,
                            commit_id=commit_id, retain=retain)
            return self._note_owner(step, r, keys, artifact_id, agent, now)

        return self._run(keys, fn, blobs, commit_id, commits=True, op="write", agent=agent,
                         bases={artifact_id: base_version}, now=now, artifact=artifact_id)

    @observed("commit_cas")
    def commit_cas(self, agent: str, artifact_id: str, expected_version: int,
                   read_epoch: int | None, payload: Payload,
                   commit_id: str | None = None) -> Committed:
        check_request_ids(agent, artifact_id)
        blobs: dict[str, bytes] = {}
        content = self._content(payload, artifact_id, blobs)
        now = self._now()
        key = ARTIFACT_PREFIX + artifact_id
        retain = self.limits.retain_versions
        return self._run((key,), lambda r: tr.commit_cas(
            r[key], artifact_id, agent, expected_version, read_epoch, content, now,
            commit_id=commit_id, retain=retain), blobs, commit_id, commits=True,
            op="cas", agent=agent, bases={artifact_id: expected_version}, now=now,
            artifact=artifact_id)

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


def _with_commit_id(exc: OutcomeUnknown, commit_id: str, artifacts: list[str]) -> OutcomeUnknown:
    """``exc`` naming the commit whose outcome is unknown, so the caller can look it up."""
    details = {k: v for k, v in exc.details.items() if k not in ("commit_id", "artifacts")}
    return OutcomeUnknown(
        f"{exc.message} [commit id {commit_id!r}]", artifact=artifacts[0] if artifacts else None,
        commit_id=commit_id, artifacts=artifacts, **details,
        recover=f"the commit may or may not have landed: read the artifact before retrying "
                f"(Coordinator.artifact(id).committed({commit_id!r}) is the version it landed at, "
                f"if it did), or retry with the same commit id")
