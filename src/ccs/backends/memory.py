"""In-process engine: records in a dict, one lock per key stripe."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence

from ccs.backends.base import Backend, R, Record, TransactFn
from ccs.failpoints import hit

STRIPES = 64


class MemoryBackend(Backend):
    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._records: dict[str, Record] = {}
        self._blobs: dict[str, bytes] = {}
        self._blob_times: dict[str, float] = {}
        self._locks = [threading.Lock() for _ in range(STRIPES)]
        self._blob_lock = threading.Lock()

    def transact(self, keys: Sequence[str], fn: TransactFn[R]) -> R:
        records = self._records
        if len(keys) == 1:
            key = keys[0]
            with self._locks[hash(key) % STRIPES]:
                changes, result = fn({key: records.get(key)})
                hit("backend.before_write")
                self._apply(changes)
            return result
        if len(keys) == 2:  # an artifact and its owner's liveness record: the common pair
            a, b = hash(keys[0]) % STRIPES, hash(keys[1]) % STRIPES
            stripes = [a] if a == b else [min(a, b), max(a, b)]
        else:
            stripes = sorted({hash(k) % STRIPES for k in keys})
        locks = [self._locks[s] for s in stripes]
        for lock in locks:
            lock.acquire()
        try:
            changes, result = fn({k: records.get(k) for k in keys})
            hit("backend.before_write")
            self._apply(changes)
        finally:
            for lock in reversed(locks):
                lock.release()
        return result

    def _apply(self, changes) -> None:
        records = self._records
        for key, rec in changes.items():
            if rec is None:
                records.pop(key, None)
            else:
                records[key] = rec

    def get(self, key: str) -> Record | None:
        return self._records.get(key)

    def keys(self, prefix: str) -> list[str]:
        return [k for k in list(self._records) if k.startswith(prefix)]

    def put_blob(self, digest: str, data: bytes) -> None:
        if digest not in self._blobs:
            self._blob_times[digest] = time.time()
            self._blobs[digest] = bytes(data)

    def get_blob(self, digest: str) -> bytes | None:
        return self._blobs.get(digest)

    def blob_digests(self, stored_before: float | None = None) -> set[str]:
        times = dict(self._blob_times)
        return {d for d, t in times.items() if stored_before is None or t < stored_before}

    def delete_blobs(self, digests: Iterable[str]) -> int:
        n = 0
        with self._blob_lock:
            for d in digests:
                self._blob_times.pop(d, None)
                if self._blobs.pop(d, None) is not None:
                    n += 1
        return n
