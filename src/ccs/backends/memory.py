"""In-process engine: records in a dict, one lock per key stripe.

A transaction holds the stripe locks of its keys; it stores the content its changes reference
(``blobs``) before the records, under those locks. ``collect_garbage`` holds every stripe lock
(taken in the same ascending order as transactions, so no deadlock) while it scans the records
and deletes: no transaction is in flight meanwhile, so it either ran before the collection
(its record is scanned) or runs after it (and stores its content again if it was collected).

Audit entries are kept per artifact in a list, appended and trimmed under the stripe lock of
that artifact's key, in the same critical section as the records they describe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

from ccs import failpoints
from ccs.backends.base import (
    ARTIFACT_PREFIX,
    OWNS_PREFIX,
    OWNS_SEPARATOR,
    Backend,
    Blobs,
    R,
    Record,
    TransactFn,
    artifact_key,
    new_content,
    record_digests,
    unpack,
)
from ccs.protocol.audit import TRIM_BATCHES, AuditBatch, AuditEntry, select
from ccs.protocol.records import ArtifactRecord

STRIPES = 64
LOCK_SETS_KEPT = 4096  # key tuples whose stripe locks are remembered (cleared when full)


class MemoryBackend(Backend):
    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._records: dict[str, Record] = {}
        self._blobs: dict[str, bytes] = {}
        self._blob_times: dict[str, float] = {}
        self._locks = [threading.Lock() for _ in range(STRIPES)]
        self._blob_lock = threading.Lock()  # put_blob, delete_blobs and GC, against each other
        self._audit: dict[str, list[AuditEntry]] = {}
        self._lock_sets: dict[tuple[str, ...], tuple[threading.Lock, ...]] = {}

    def transact(self, keys: Sequence[str], fn: TransactFn[R], blobs: Blobs | None = None) -> R:
        records = self._records
        if len(keys) == 1:
            key = keys[0]
            # (an artifact or liveness key, the usual single key, hashes as it is)
            locks: tuple[threading.Lock, ...] = (
                self._locks[hash(key) % STRIPES if key[:1] != "o" else _stripe(key)],)
        else:
            locks = self._lock_sets.get(keys) if keys.__class__ is tuple else None
            if locks is None:
                locks = self._stripe_locks(keys)
        for lock in locks:
            lock.acquire()
        try:
            if len(keys) == 1:
                key = keys[0]
                read = {key: records.get(key)}
            else:
                read = {}
                for k in keys:
                    read[k] = records.get(k)
            out = fn(read)
            if len(out) == 4:  # the coordinator's shape, taken apart in place; others by unpack
                changes, result, audit, _ = out
                if audit is not None and not audit.entries:
                    audit = None
            else:
                changes, result, audit, _ = unpack(out)
            if failpoints._armed is not None:  # (hit's own first check, without the call)
                failpoints.hit("backend.before_write")
            if len(changes) == 1:  # (one record: every commit and registration, inline)
                for key, rec in changes.items():
                    digest = rec.content.digest if rec.__class__ is ArtifactRecord else None
                    if digest is not None and blobs and digest in blobs:  # new_content's case
                        stored = self._blobs  # (before the record, as below)
                        if digest not in stored:
                            self._blob_times[digest] = time.time()
                            stored[digest] = bytes(blobs[digest])
                    elif digest is not None and (read.get(key) is None
                                                 or read[key].content.digest != digest):
                        self._store(new_content(read, changes, blobs))  # (refuses, or a retained one)
                    if rec is None:
                        records.pop(key, None)
                    else:
                        records[key] = rec
            elif changes:
                self._store(new_content(read, changes, blobs))
                for key, rec in changes.items():
                    if rec is None:
                        records.pop(key, None)
                    else:
                        records[key] = rec
            if audit is not None:
                entries = audit.entries
                if len(entries) == 1:  # (_log's common case, inline: one commit's entry)
                    e = entries[0]
                    log = self._audit.get(e.artifact)
                    if log is None:
                        self._audit[e.artifact] = [e]
                    else:
                        log.append(e)
                    retain = audit.retain
                    if e.version > retain and e.version % (retain // TRIM_BATCHES or 1) == 0:
                        self._trim(e.artifact, e.version - retain)
                else:
                    self._log(audit)
        finally:
            if len(locks) == 1:
                locks[0].release()
            else:
                for lock in reversed(locks):
                    lock.release()
        return result

    def _store(self, content: dict[str, bytes]) -> None:
        """Store the content a transaction's records reference, before the records: a lock-free
        ``get`` must never see a record without its content."""
        stored = self._blobs
        for digest, data in content.items():
            if digest not in stored:
                self._blob_times[digest] = time.time()
                stored[digest] = bytes(data)

    def _stripe_locks(self, keys: Sequence[str]) -> tuple[threading.Lock, ...]:
        """The stripe locks of ``keys``, each once, in ascending stripe order (every transaction
        and ``collect_garbage`` take them in that order: no deadlock). Remembered per key tuple:
        a commit names the same keys (artifact, liveness record, ownership entry) every time."""
        stripes = sorted({_stripe(k) for k in keys})
        locks = tuple(self._locks[s] for s in stripes)
        if keys.__class__ is tuple:
            if len(self._lock_sets) >= LOCK_SETS_KEPT:
                self._lock_sets.clear()
            self._lock_sets[keys] = locks
        return locks

    def _log(self, audit: AuditBatch) -> None:
        """Append and trim; the caller holds the stripe locks of the entries' artifacts."""
        log = self._audit
        for e in audit.entries:
            entries = log.get(e.artifact)
            if entries is None:
                log[e.artifact] = [e]
            else:
                entries.append(e)
        for aid, bound in audit.trims().items():
            self._trim(aid, bound)

    def _trim(self, artifact_id: str, bound: int) -> None:
        """Drop the artifact's entries of versions up to ``bound`` (``AuditBatch.trims``)."""
        entries = self._audit[artifact_id]  # in version order but for a refusal appended late:
        n = 0  # drop a prefix
        while n < len(entries) and entries[n].version <= bound:
            n += 1
        if n:
            del entries[:n]

    def append_audit(self, batch: AuditBatch) -> None:
        stripes = sorted({_stripe(artifact_key(e.artifact)) for e in batch.entries})
        for s in stripes:
            self._locks[s].acquire()
        try:
            self._log(batch)
        finally:
            for s in reversed(stripes):
                self._locks[s].release()

    def audit(self, artifact: str | None = None, since: float | None = None,
              limit: int | None = None) -> list[AuditEntry]:
        if artifact is not None:
            return select(list(self._audit.get(artifact, ())), artifact, since, limit)
        return select([e for entries in list(self._audit.values()) for e in list(entries)],
                      None, since, limit)

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def keys(self, prefix: str) -> list[str]:
        return [k for k in list(self._records) if k.startswith(prefix)]

    def records(self, prefix: str) -> list[tuple[str, Record]]:
        return [(k, r) for k, r in list(self._records.items()) if k.startswith(prefix)]

    def put_blob(self, digest: str, data: bytes) -> None:
        with self._blob_lock:
            if digest not in self._blobs:
                self._blobs[digest] = bytes(data)
            self._blob_times[digest] = time.time()

    def get_blob(self, digest: str) -> bytes | None:
        return self._blobs.get(digest)

    def blob_digests(self, stored_before: float | None = None) -> set[str]:
        times = dict(self._blob_times)
        return {d for d, t in times.items() if stored_before is None or t < stored_before}

    def delete_blobs(self, digests: Iterable[str]) -> int:
        with self._blob_lock:
            return self._delete(digests)

    def _delete(self, digests: Iterable[str]) -> int:
        n = 0
        for d in digests:
            self._blob_times.pop(d, None)
            if self._blobs.pop(d, None) is not None:
                n += 1
        return n

    def collect_garbage(self, stored_before: float) -> int:
        for lock in self._locks:  # ascending, like every transaction: no deadlock
            lock.acquire()
        try:
            with self._blob_lock:
                doomed = {d for d, t in self._blob_times.items() if t < stored_before}
                for key, rec in self._records.items():
                    if doomed and key.startswith(ARTIFACT_PREFIX):
                        doomed.difference_update(record_digests(rec))
                failpoints.hit("backend.gc.before_delete")
                return self._delete(doomed)
        finally:
            for lock in reversed(self._locks):
                lock.release()


def _stripe(key: str) -> int:
    """The stripe whose lock guards ``key``. An ownership index entry shares its artifact's
    stripe, so a grant-taking commit (artifact, liveness record, entry) takes two locks, not
    three; any fixed mapping serializes the same, as every lock taker uses this one."""
    if key.startswith(OWNS_PREFIX):
        sep = key.find(OWNS_SEPARATOR)
        if sep >= 0:
            return hash(ARTIFACT_PREFIX + key[sep + 1:]) % STRIPES
    return hash(key) % STRIPES
