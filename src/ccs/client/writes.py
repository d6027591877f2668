"""The write half of the agent handle (``Agent`` derives from ``Writes``): commits, checked
against the view they were derived from, and their idempotency ids.

A write carries the version and epoch the new content was derived from, and the store refuses it
if either moved (``StaleView``, ``GrantReclaimed``, ...). The agent never applies a write locally
that the store did not accept. Each commit gets a new id; its first attempt is sent as such
(``new_id``: no record can remember it), and a retry after a failure
(``CoherenceAdapterCore._retry``) sends the same id, so a commit whose reply was lost is found
and reported once, never applied twice.
"""

from __future__ import annotations

import math
import random
import threading
import time
from _thread import get_ident
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ccs import failpoints
from ccs.client import entries, turns
from ccs.client import merge as merging
from ccs.client.codec import encode
from ccs.client.entries import _ID_COUNTER, AgentStats, Entry, bad_id, new_commit_id
from ccs.protocol.arguments import check_int, check_number
from ccs.protocol.errors import (
    CoherenceError,
    ConflictError,
    GrantReclaimed,
    InvalidArgument,
    OutcomeUnknown,
    RetriesExhausted,
    StaleEpoch,
    VersionConflict,
)
from ccs.protocol.messages import Committed
from ccs.protocol.records import Mesi

if TYPE_CHECKING:
    from ccs.client.core import CoherenceAdapterCore
    from ccs.coordinator import Coordinator


class Writes:
    """Commits of one agent; the state they use is ``Agent``'s (see its ``__init__``), and so
    are the cache reads they make (``_lookup``, ``_fetch``, ``_value``)."""

    core: CoherenceAdapterCore
    coordinator: Coordinator
    id: str
    stats: AgentStats
    holds_grants: bool
    lock: threading.RLock
    _cache: dict[str, Entry]
    _turns: dict[str, turns.Turn]
    _invalid_after: dict[str, int]
    _observers: list[Any]
    _write_direct: Callable[..., Committed]
    _cas_direct: Callable[..., Committed]
    _now: Callable[[], float]
    _lookup: Callable[[str], Entry | None]
    _fetch: Callable[..., Entry]
    _value: Callable[[Entry, str, Any], Any]

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
                                         state, self._now())

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
        if value.__class__ is str:  # (encode's common case, inline)
            try:
                data, kind = value.encode("utf-8"), "str"
            except UnicodeEncodeError:
                data, kind = encode(value, artifact_id)  # raises InvalidValue
        else:
            data, kind = encode(value, artifact_id)
        try:
            entry = self._cache.get(artifact_id)
        except TypeError:
            raise bad_id(artifact_id) from None
        if blind:
            base_version = base_epoch = None
        elif entry is None:
            base_version, base_epoch = 0, None
        else:
            base_version, base_epoch = entry.version, entry.epoch
        args = (self.id, artifact_id, base_version, base_epoch, (data, kind),
                f"{entries._ID_PREFIX}-{next(_ID_COUNTER)}")  # (new_commit_id, inline)
        if failpoints._armed is not None:
            failpoints.hit("client.before_commit", agent=self, artifact=artifact_id)
        try:
            try:  # call_with_retry's first attempt, inline; the id was never sent before
                c = (self.coordinator.write if self._observers else self._write_direct)(
                    *args, new_id=True)
            except CoherenceError as exc:
                c = self._settle(artifact_id, self.coordinator.write, args, exc)
        except ConflictError as exc:
            merging.attach(exc, self, artifact_id, base_version, entry, (data, kind))
            raise
        self.stats.commits += 1
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
        try:  # (_lookup, inline: every write_cas passes here)
            entry = self._cache.get(artifact_id)
        except TypeError:
            raise bad_id(artifact_id) from None
        epoch = entry.epoch if entry is not None and entry.version == expected_version else None
        args = (self.id, artifact_id, expected_version, epoch, payload,
                f"{entries._ID_PREFIX}-{next(_ID_COUNTER)}")  # (new_commit_id, inline)
        if failpoints._armed is not None:
            failpoints.hit("client.before_commit", agent=self, artifact=artifact_id)
        try:
            try:  # call_with_retry's first attempt, inline; the id was never sent before
                c = (self.coordinator.commit_cas if self._observers else self._cas_direct)(
                    *args, new_id=True)
            except CoherenceError as exc:
                c = self._settle(artifact_id, self.coordinator.commit_cas, args, exc)
        except ConflictError as exc:
            merging.attach(exc, self, artifact_id, expected_version, entry, payload)
            raise
        self.stats.commits += 1
        data, kind = (b"", "deleted") if payload is None else payload
        if c.superseded:
            self._install_commit(artifact_id, c, data, kind, value, owner=False)
        else:  # (_install_commit's common case, inline)
            self._cache[artifact_id] = Entry(
                c.version, c.epoch, c.seq, c.content, data,
                (data if value is None else value) if kind in ("bytes", "str") else None,
                self._invalid_after.get(artifact_id, -1) <= c.seq,
                Mesi.MODIFIED if entry is not None and entry.state is not Mesi.SHARED
                else Mesi.SHARED, self._now())
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
        try:  # (_lookup, inline)
            entry = self._cache.get(artifact_id)
        except TypeError:
            raise bad_id(artifact_id) from None
        # This process's write_cas calls on the artifact take turns (ccs.client.turns); the
        # compare-and-set below still decides. (Turn.lock and leave's common case, inline.)
        t = self._turns.get(artifact_id) or turns.turn(self._turns, artifact_id)
        me = get_ident()
        if t.lock.acquire(False):
            t.owner = me
            mine = True
        else:
            mine = turns.wait(t, me)
            if mine:
                entry = self._cache.get(artifact_id)  # the holder's commit invalidated it
        try:
            if entry is None or not entry.valid or not self.strategy.caches:
                entry = self._fetch(artifact_id, acquire=False)
            last: Exception | None = None
            for attempt in range(retries + 1):
                if entry.content.kind == "str" and entry.value is not None:
                    new = fn(entry.value)  # (_value's common case)
                else:
                    new = fn(self._value(entry, artifact_id, None))
                if new.__class__ is str:  # (encode's common case)
                    try:
                        payload = new.encode("utf-8"), "str"
                    except UnicodeEncodeError:
                        payload = encode(new, artifact_id)  # raises InvalidValue
                else:
                    payload = encode(new, artifact_id)
                try:
                    return self._commit_payload(artifact_id, entry.version, payload, new).version
                except (VersionConflict, StaleEpoch, GrantReclaimed) as exc:
                    last = exc
                    if attempt < retries and backoff:
                        time.sleep(random.uniform(0, backoff * (2 ** min(attempt, 6))))
                    entry = self._fetch(artifact_id, acquire=False)
        finally:
            if mine:
                if t.waiting:
                    turns.leave(t)
                else:
                    t.owner = 0
                    t.lock.release()
                    if t.waiting:
                        turns.nudge(t)
        current = self._lookup(artifact_id)
        raise RetriesExhausted(
            f"write_cas on {artifact_id!r} lost {retries + 1} races in a row",
            artifact=artifact_id, current_version=None if current is None else current.version,
            current_epoch=None if current is None else current.epoch,
            attempts=retries + 1, last_error=None if last is None else last.to_dict(),
        )

    def _commit(self, artifact_id: str, call: Callable[..., Committed], *args: Any) -> Committed:
        """``call(*args, commit_id)`` with a new idempotency id, retried (``call_with_retry``)."""
        args = (*args, new_commit_id())
        if failpoints._armed is not None:
            failpoints.hit("client.before_commit", agent=self, artifact=artifact_id)
        try:
            c = call(*args)
        except CoherenceError as exc:
            c = self._settle(artifact_id, call, args, exc)
        self.stats.commits += 1
        return c

    def _settle(self, artifact_id: str, call: Callable[..., Committed], args: tuple[Any, ...],
                failed: CoherenceError) -> Committed:
        """A commit whose first attempt failed with ``failed``: retried (``call_with_retry``);
        a refusal, or an outcome still unknown, invalidates the cached copy (ours may have
        landed: revalidate) and is raised."""
        try:
            return self.core._retry(call, args, failed)
        except (ConflictError, OutcomeUnknown) as exc:
            self.stats.conflicts += isinstance(exc, ConflictError)
            entry = self._lookup(artifact_id)
            if entry is not None:
                entry.valid = False
                entry.prefetched = None  # fetched before the conflict: maybe older than it reported
            raise
