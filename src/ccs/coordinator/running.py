"""How a coordinator runs a transition as one engine transaction (``Running._run``).

Split from ``coordinator.py``, which holds the operations. Every operation that changes a record
comes through here: the transition runs inside the engine's transaction on the records it read,
and the records it returns, the audit entries of its new versions and reclaims, and (on an engine
whose bus rides in the commit) the bus notice are written in that same transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Mapping
from functools import partial as _partial
from typing import TYPE_CHECKING, Any

from ccs import failpoints
from ccs.backends import agent_key, artifact_key, owns_key
from ccs.backends.base import ARTIFACT_PREFIX
from ccs.observe.hooks import note_events
from ccs.protocol import liveness
from ccs.protocol.audit import COMMITTED, AuditBatch, AuditEntry, entries_for, refusals
from ccs.protocol.audit import DELETED as LOGGED_DELETE
from ccs.protocol.errors import (
    BackendUnavailable,
    CoherenceError,
    ConflictError,
    OutcomeUnknown,
    PayloadTooLarge,
)
from ccs.protocol.messages import Step
from ccs.protocol.records import DELETED, Content, OwnershipEntry

if TYPE_CHECKING:
    from ccs.backends import Backend
    from ccs.bus import Bus
    from ccs.coordinator.clock import Clock
    from ccs.coordinator.config import CrashRecoveryConfig, Limits

Payload = tuple[bytes, str] | None  # (data, kind); None deletes
KEY_SETS_KEPT = 4096  # (agent, artifact) key tuples remembered (cleared when full)
_sha256 = hashlib.sha256


class Running:
    backend: Backend
    bus: Bus
    clock: Clock
    crash_recovery: CrashRecoveryConfig
    limits: Limits
    observers: list[Any]
    _carry: Callable[[list[Any]], Any] | None
    _key_sets: dict[tuple[str, str], tuple[str, ...]]

    def _run(self, keys: Any, fn: Callable[..., Step], blobs: dict[str, bytes] | None = None,
             commit_id: str | None = None, *, args: tuple[Any, ...] | None = None,
             commits: bool = False, op: str = "", agent: str | None = None,
             bases: Mapping[str, int | None] | None = None, now: float | None = None,
             audits: bool = True, artifact: str | None = None, owner: bool = False) -> Any:
        """Run ``fn`` as one engine transaction, storing ``blobs`` with its records. ``fn`` is
        called with the records read (by key), or, given ``args``, as a transition of the record
        at ``keys[0]``: ``fn(record, *args)`` (no closure built per call). An operation that
        ``commits`` content and lost its reply is ``OutcomeUnknown`` naming its ``commit_id``; any
        other (a read's registration, acquire, release, heartbeat, sweep) has the same effect
        when repeated, so it is a plain ``BackendUnavailable``: retry it.

        ``owner``: the step may grant ``artifact`` to ``agent``; with crash recovery (``keys``
        from ``_ownership_keys``) the agent's liveness record and ownership index entry are
        brought up to date in the same transaction (``liveness.note_grant``).

        The audit entries of the step's new versions and reclaims travel in the same engine
        transaction (``ccs.protocol.audit``). A conflict refuses the change: the engine rolled
        back, and the refusal of ``op`` (on the artifacts of ``bases``, each with the version the
        caller derived from) is appended on its own afterwards. ``audits=False``: a step that by
        its transition never logs (a read's registration: no new version, no reclaim).
        A commit that landed passes the ``coordinator.committed`` failpoint (``artifact``)."""
        retain = self.limits.audit_retain if audits else 0
        if now is None:  # a caller that already read the clock passes it: one reading per op
            now = self.clock.now() if retain else 0.0
        # (refused records, the bus notice dropped): what the transaction tells the code below
        out: list[Any] = [None, False]
        # The liveness ttl, when the step may take a grant that liveness must record.
        ttl = self.crash_recovery.heartbeat_ttl if owner and len(keys) == 3 else None
        # The transaction, without a closure per call (a partial of a module function is built
        # in C; a closure over a dozen variables was a tenth of a commit)
        transaction = _partial(_transaction, (
            fn, keys[0] if args is not None else None, args, ttl, agent, artifact, now, retain,
            op, commit_id, self._carry, keys, out))
        if failpoints._armed is not None:  # (hit's own first check: nothing armed, no call)
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
            if out[0] is not None and bases and retain and agent is not None:
                self._log_refusal(exc, op, agent, out[0], bases, now, commit_id)
            raise
        events = step.events
        if events:
            if self.observers:
                note_events(events)
            if self._carry is not None:
                if not out[1]:
                    self.bus.deliver_local(events)
            elif failpoints._armed is None or failpoints.hit("bus.publish", events=events) != "drop":
                self.bus.publish(events)
        if commits and failpoints._armed is not None:
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
        transaction as the record that references them (never earlier: see ``gc``). The one
        hash of the bytes on the commit path: the engine stores them under it, unhashed."""
        if payload is None:
            return DELETED
        data, kind = payload
        size = len(data)
        if size > self.limits.max_content_bytes:
            raise PayloadTooLarge(
                f"content for {artifact_id!r} is {size} bytes; the limit is "
                f"{self.limits.max_content_bytes}", artifact=artifact_id, size=size,
                limit=self.limits.max_content_bytes)
        digest = _sha256(data).hexdigest()
        blobs[digest] = data
        return Content(digest, size, kind)

    def _ownership_keys(self, artifact_id: str, agent: str) -> tuple[str, ...]:
        """The keys a grant-taking transaction locks: the artifact's record and, with crash
        recovery, the agent's liveness record and its ownership index entry. Remembered per
        (agent, artifact): an engine that caches per key tuple (the memory engine's stripe
        locks) then sees the same tuple every time, and a commit finds it with one lookup."""
        keys = self._key_sets.get((agent, artifact_id))
        if keys is None:
            keys = (artifact_key(artifact_id), agent_key(agent), owns_key(agent, artifact_id)) \
                if self.crash_recovery.enabled else (artifact_key(artifact_id),)
            if len(self._key_sets) >= KEY_SETS_KEPT:
                self._key_sets.clear()
            self._key_sets[(agent, artifact_id)] = keys
        return keys


def _transaction(ctx: tuple[Any, ...], records: dict[str, Any]
                 ) -> tuple[dict[str, Any], Step, Any, Any]:
    """``Running._run``'s engine transaction: the transition on the records read, and what the
    engine writes with them (changes by key, audit batch, bus notice)."""
    fn, first, args, ttl, agent, artifact, now, retain, op, commit_id, carry, keys, out = ctx
    try:
        step = fn(records) if first is None else fn(records[first], *args)
    except ConflictError:
        out[0] = records
        raise
    arts = step.artifacts
    if ttl is not None:
        new = arts.get(artifact)
        if new is not None and new.owner is not None and new.owner.agent == agent:
            live, listed = records[keys[1]], records[keys[2]] is not None
            # note_grant writes nothing for a listed grant whose liveness is fresh (the steady
            # state): that case is told apart here without the call
            if not listed or live is None or live.expires_at - now <= ttl / 2:
                liveness.note_grant(live, listed, agent, artifact, ttl, now, into=step)
    changes: dict[str, Any] = {}
    audit = None
    if arts:
        if not retain:
            for a, r in arts.items():
                changes[ARTIFACT_PREFIX + a] = r
        elif first is not None and len(arts) == 1 and artifact in arts:
            # one artifact's transition (every commit): its entry, built here (entries_for's
            # case of a new version, inline)
            new = arts[artifact]
            old = records[first]
            changes[first] = new
            old_version = 0 if old is None else old.version
            if new is not None and new.version != old_version:
                digest = new.content.digest
                audit = AuditBatch((AuditEntry(
                    now, artifact, op, COMMITTED if digest is not None else LOGGED_DELETE, agent,
                    old_version, new.version, new.epoch, "", commit_id, "", digest),), retain)
            else:
                entries = entries_for(op, agent, {artifact: old}, arts, now, commit_id)
                if entries:
                    audit = AuditBatch(tuple(entries), retain)
        else:
            before: dict[str, Any] = {}
            for a, r in arts.items():
                key = ARTIFACT_PREFIX + a
                changes[key] = r
                before[a] = records.get(key)
            entries = entries_for(op, agent, before, arts, now, commit_id)
            if entries:
                audit = AuditBatch(tuple(entries), retain)
    if step.agents:
        for name, rec in step.agents.items():
            changes[agent_key(name)] = rec
    if step.owns:
        for (name, aid), add in step.owns.items():
            changes[owns_key(name, aid)] = OwnershipEntry(name, aid) if add else None
    notice = None
    if carry is not None and step.events:  # decided per attempt: the last one commits
        out[1] = dropped = failpoints.hit("bus.publish", events=step.events) == "drop"
        notice = None if dropped else carry(step.events)
    return changes, step, audit, notice


def _with_commit_id(exc: OutcomeUnknown, commit_id: str, artifacts: list[str]) -> OutcomeUnknown:
    """``exc`` naming the commit whose outcome is unknown, so the caller can look it up."""
    details = {k: v for k, v in exc.details.items() if k not in ("commit_id", "artifacts")}
    return OutcomeUnknown(
        f"{exc.message} [commit id {commit_id!r}]", artifact=artifacts[0] if artifacts else None,
        commit_id=commit_id, artifacts=artifacts, **details,
        recover=f"the commit may or may not have landed: read the artifact before retrying "
                f"(Coordinator.artifact(id).committed({commit_id!r}) is the version it landed at, "
                f"if it did), or retry with the same commit id")
