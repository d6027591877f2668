"""Redis engine: many hosts share one Redis server.

``redis://[:password@]host:6379/0?prefix=ccs`` (``rediss://`` for TLS; other query parameters go
to redis-py). ``transact(keys, fn)`` is optimistic and speculative: when this process saw every
key last (the codec remembers the bodies it read or wrote, ``_absent`` the keys it found absent),
it runs ``fn`` on those records in Python and sends the writes in ONE conditional apply
(``redis_apply``: a protocol-agnostic Lua script that writes only if every key still holds the
body ``fn`` saw). One round trip. If a key changed, nothing is written and the script returns what
the keys hold: ``fn`` runs again on that and the writes go in a second apply (two round trips, the
same as a read then a write). Keys this process has not seen are read first (``MGET``). A lost race
repeats after a short randomized backoff, which is why ``fn`` must be pure. A refusal raised by
``fn``, or an outcome with nothing to write, reached on remembered records is checked with an
apply of no writes before it is reported; on records just read from the server it stands.

Key layout (``P`` is the prefix)::

    {P}:meta          hash: application, schema_version
    {P}:r:<key>       one record, JSON (keys: ``a/<artifact>``, ``g/<agent>``, ``o/<agent>US<artifact>``)
    {P}:idx           sorted set of record keys, all scores 0 (ZRANGEBYLEX serves ``keys(prefix)``)
    {P}:b:<digest>    one blob, raw bytes
    {P}:bt            sorted set: blob digest -> time stored (for ``blob_digests(stored_before)``)
    {P}:au:<artifact> sorted set: the artifact's audit entries (JSON), scored by version
    {P}:events        pub/sub channel of the Redis bus

Audit entries go into the same apply as the records they describe (``ZADD``, and a
``ZREMRANGEBYSCORE`` that keeps the entries of the latest ``retain`` versions): the same round
trip, one atomic commit; so does the bus's ``PUBLISH`` of the commit's events (``notice``).

Every key carries the same hash tag ``{P}``, so on Redis Cluster a whole store lives in one slot:
any transaction (a read set of several artifacts, the sweep's agent plus its artifacts) is legal
there. The trade-off: one store is served by one shard and cannot spread over the cluster; to use
several shards, give independent stores different prefixes.

Content travels with the transaction that first references it (``transact(..., blobs)``): its
apply also writes ``{P}:b:<digest>`` (a plain ``SET``, even when present: see below) and adds the
digest to ``{P}:bt`` if absent. Record and content land in one script, so a server that loses
recent writes in a crash loses both or neither, and a refused commit stores nothing.

Garbage collection is optimistic too: it lists old blobs, ``WATCH``es their keys, lists them
again (keeping those still old) and reads every artifact record, then deletes the unreferenced
ones in one ``MULTI/EXEC``. A commit that makes a record reference one of them either ran its
apply before the ``WATCH`` (so the scan, which follows, sees its record) or after it, and then
its ``SET`` of that blob's key (a script's write aborts a ``WATCH`` like any other) aborts the
collection's ``EXEC``: it retries, and after ``GC_RETRIES`` lost races gives up with
``BackendUnavailable(reason="contention")``. Only commits of old, unreferenced content conflict
with a collection; commits never wait for one. Content a record already referenced (its retained
versions) was there for every scan: the commit that rewrites the record checks it in its script.

A connection failure before a writing apply was sent is retried (nothing was applied); a failure
after is reported as ``OutcomeUnknown``: callers retry with the same idempotency id, which resolves
it. redis-py's own retries are off so it never re-sends a transaction itself. A script the server
lost (``NOSCRIPT`` after a restart or ``SCRIPT FLUSH``) is sent again in full (``EVAL``). A
transaction the server refuses (``OOM`` at ``maxmemory`` with ``noeviction``: ``StorageFull``)
applied nothing.

The URL's options are checked, and a connection object built from them, before any I/O.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

import redis

from ccs.backends import redact_url
from ccs.backends.base import (
    Backend,
    Blobs,
    R,
    Record,
    RecordCodec,
    TransactFn,
    decode_record,
    new_content,
    record_digests,
    unpack,
)
from ccs.backends.record_json import dumps
from ccs.backends.redis_apply import (
    APPLIED,
    APPLY_LUA,
    CHANGED,
    NO_COMMANDS,
    Commands,
    evalsha_command,
    roundtrip,
    sha1_hex,
)
from ccs.backends.redis_url import connect, redacted, unavailable
from ccs.failpoints import hit
from ccs.protocol.audit import AuditBatch, AuditEntry, select
from ccs.protocol.errors import (
    BackendUnavailable,
    CoherenceError,
    CorruptState,
    EngineError,
    OutcomeUnknown,
    SchemaTooNew,
    StorageFull,
)

SCHEMA_VERSION = 1
APPLICATION = "agent-coherence"
READ_RETRIES = 4
GC_RETRIES = 8  # lost races before a collection gives up (only commits of unreferenced content race it)
CHUNK = 1000  # keys per WATCH, MGET or DEL command of a collection
CONTENTION_BUDGET = 30.0  # seconds of lost races before giving up
ABSENT_MEMORY = 4096  # keys remembered absent (a belief for the speculative commit, like the codec)
_ERRORS = (redis.ConnectionError, redis.TimeoutError)


class RedisBackend(Backend):
    _driver_errors = (redis.RedisError,)

    def __init__(self, url: str) -> None:
        self.url = url
        self._codec = RecordCodec(as_bytes=True, digest=sha1_hex)
        self._absent: dict[str, None] = {}  # keys last seen absent (the codec remembers bodies)
        self._r, self.prefix = connect(url)
        tag = "{" + self.prefix + "}"
        self._meta, self._idx, self._bt = f"{tag}:meta", f"{tag}:idx", f"{tag}:bt"
        self._rec, self._blob = f"{tag}:r:", f"{tag}:b:"
        self._audit_key = f"{tag}:au:"
        try:
            self._r.ping()
            self._prepare_schema()
        except redis.RedisError as exc:
            self._r.close()
            raise self._typed_error(exc, "cannot open the store") from exc
        except BaseException:
            self._r.close()
            raise

    def _prepare_schema(self) -> None:
        where = redact_url(self.url)
        meta = self._r.hgetall(self._meta)
        if not meta:
            if self._r.exists(self._idx):
                raise CorruptState(f"{where}: prefix {self.prefix!r} holds records without a schema "
                                   "marker; refusing to touch it", url=where)
            with self._r.pipeline(transaction=True) as pipe:
                pipe.hsetnx(self._meta, "application", APPLICATION)
                pipe.hsetnx(self._meta, "schema_version", str(SCHEMA_VERSION))
                pipe.hgetall(self._meta)
                meta = pipe.execute()[-1]
        if meta.get(b"application") != APPLICATION.encode():
            raise CorruptState(f"{where}: prefix {self.prefix!r} is not an {APPLICATION} store", url=where)
        version = int(meta.get(b"schema_version", b"0"))
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(f"{where}: prefix {self.prefix!r} has schema version {version}; this "
                               f"release supports up to {SCHEMA_VERSION}", url=where, schema_version=version)
        if version < 1:
            raise CorruptState(f"{where}: prefix {self.prefix!r} has no valid schema_version", url=where)

    def _typed_error(self, exc: BaseException, operation: str) -> CoherenceError:
        where = redact_url(self.url)
        if isinstance(exc, redis.exceptions.OutOfMemoryError):
            return StorageFull(
                f"{where}: {operation}: {redacted(str(exc), self.url)}", url=where,
                recover="Redis is at maxmemory and refuses writes (maxmemory-policy noeviction): "
                        "free memory or raise maxmemory, then retry; nothing was applied")
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, redis.exceptions.ReadOnlyError)):
            return unavailable(self.url, operation, exc)
        return EngineError(f"{where}: {operation}: {type(exc).__name__}: "
                           f"{redacted(str(exc), self.url)}", url=where)

    # --- contract ------------------------------------------------------------------------------

    def transact(self, keys: Sequence[str], fn: TransactFn[R], blobs: Blobs | None = None) -> R:
        keys = list(dict.fromkeys(keys))
        rkeys = [self._rec + k for k in keys]
        bodies, fresh = self._believed(keys), False  # speculative: what this process saw last
        deadline = time.monotonic() + CONTENTION_BUDGET
        failures = races = 0
        pool = self._r.connection_pool
        while True:
            try:
                conn = pool.get_connection()
            except _ERRORS as exc:
                failures += 1
                if failures > READ_RETRIES:
                    raise unavailable(self.url, "cannot connect", exc, applied=False) from exc
                time.sleep(random.uniform(0, 0.002 * 2 ** failures))
                continue
            lost = False
            try:
                if bodies is None:  # a key this process knows nothing of: read them first
                    bodies, fresh = roundtrip(conn, ("MGET", *rkeys)), True
                    if isinstance(bodies, redis.ResponseError):
                        raise bodies
                lost = fresh  # a speculation that missed is no race: the next try is informed
                done, result, current = self._attempt(conn, keys, rkeys, bodies, fresh, fn, blobs)
                if done:
                    return result
                bodies, fresh = current, True
                if lost:
                    races += 1
                    if time.monotonic() > deadline:
                        raise BackendUnavailable(
                            f"{redact_url(self.url)}: gave up after {races} lost races in "
                            f"{CONTENTION_BUDGET:.0f}s", url=redact_url(self.url), reason="contention",
                            recover="contention is high: back off and retry; nothing was applied")
            except _SentApply as exc:
                conn.disconnect()
                cause = exc.__cause__ or exc
                raise OutcomeUnknown(
                    f"{redact_url(self.url)}: connection lost while committing (outcome unknown; "
                    f"retry with the same commit id): {redacted(str(cause), self.url)}",
                    url=redact_url(self.url), reason="connection") from exc.__cause__
            except _ERRORS as exc:
                conn.disconnect()
                failures += 1
                lost, fresh = True, False  # what was read before is checked again, not assumed
                if failures > READ_RETRIES:
                    raise unavailable(self.url, "transaction failed", exc, applied=False) from exc
            finally:
                pool.release(conn)
            if lost:
                time.sleep(random.uniform(0, 0.0002 * 2 ** min(races + failures, 10)))

    def _believed(self, keys: list[str]) -> list[bytes | None] | None:
        """The bodies this process last saw for ``keys`` (``None``: absent), if it saw them all.
        Only a belief: the conditional apply checks it against the server before writing."""
        remembered, absent = self._codec.remembered, self._absent
        bodies: list[bytes | None] = []
        for key in keys:
            seen = remembered(key)
            if seen is not None:
                bodies.append(seen[0])  # type: ignore[arg-type]
            elif key in absent:
                bodies.append(None)
            else:
                return None
        return bodies

    def _attempt(self, conn: Any, keys: list[str], rkeys: list[str], bodies: list[bytes | None],
                 fresh: bool, fn: TransactFn[R], blobs: Blobs | None
                 ) -> tuple[bool, R | None, list[bytes | None] | None]:
        """Run ``fn`` on ``bodies`` and apply its writes if the keys still hold them: (done,
        result, the current bodies if they did not). ``fresh``: ``bodies`` were just read from
        the server (an atomic snapshot), so a refusal or a read-only outcome stands without a
        check; otherwise they are a belief, and nothing is concluded until the server confirms."""
        decode, records = self._codec.decode, {}
        for key, body in zip(keys, bodies, strict=True):
            if body is not None:
                records[key] = decode(key, body)
            else:
                records[key] = None
                if fresh:
                    self._note_absent(key)
        try:
            changes, result, audit, notice = unpack(fn(records))
            content = new_content(records, changes, blobs) if changes else {}
        except CoherenceError:  # a refusal stands only if made on what is stored
            current = None if fresh else self._apply(conn, keys, rkeys, bodies, NO_COMMANDS)
            if current is None:
                raise
            return False, None, current
        if not changes and audit is None:  # writes nothing; a belief is checked all the same
            current = None if fresh else self._apply(conn, keys, rkeys, bodies, NO_COMMANDS)
            return current is None, result, current
        hit("backend.before_write")
        current = self._apply(conn, keys, rkeys, bodies,
                              self._writes(records, changes, content, audit, notice))
        if current is not None:
            return False, None, current
        for key, rec in changes.items():
            if rec is None:
                self._note_absent(key)
            else:
                self._absent.pop(key, None)
        return True, result, None

    def _writes(self, records: dict[str, Any], changes: Any, content: dict[str, bytes],
                audit: AuditBatch | None, notice: Any) -> Commands:
        commands = Commands()
        add = commands.add
        for d, data in content.items():  # SET, not SET NX: it must abort a collection watching it
            add("SET", self._blob + d, bytes(data))
            add("ZADD", self._bt, "NX", time.time(), d)
        encode = self._codec.encode
        for key, rec in changes.items():
            if rec is None:
                add("DEL", self._rec + key)
                add("ZREM", self._idx, key)
            else:
                add("SET", self._rec + key, encode(key, rec))
                if records.get(key) is None:
                    add("ZADD", self._idx, 0, key)
        if audit is not None:
            for command in self._log_commands(audit):
                add(*command)
        if notice is not None:  # (channel, message): published by the script, only if it applies
            commands.publish(*notice)
        return commands

    def _apply(self, conn: Any, keys: list[str], rkeys: list[str], bodies: list[bytes | None],
               commands: Commands) -> list[bytes | None] | None:
        """One round trip: ``commands`` run if ``rkeys`` hold ``bodies`` (``None``); if not,
        nothing is written and the current bodies are returned."""
        digest_of = self._codec.digest_of  # remembered with the body: unchanged ones not rehashed
        digests = ["" if body is None else digest_of(key, body)
                   for key, body in zip(keys, bodies, strict=True)]
        try:
            reply = roundtrip(conn, evalsha_command(rkeys, digests, commands))
            if isinstance(reply, redis.exceptions.NoScriptError):  # restarted or flushed: load it
                reply = roundtrip(conn, evalsha_command(rkeys, digests, commands, script=APPLY_LUA))
        except redis.exceptions.BusyLoadingError:  # a reply (LOADING): the script did not run
            raise
        except _ERRORS as exc:
            if commands:  # sent: it may have been applied
                raise _SentApply() from exc
            raise
        if isinstance(reply, redis.ResponseError):  # the script did not write anything
            err = self._typed_error(reply, "the server refused the transaction")
            if "nothing was applied" not in err.recover:
                err.recover += "; nothing was applied"
            raise err from reply
        if reply[0] == APPLIED:
            return None
        if reply[0] == CHANGED:
            return list(reply[1:])
        raise CorruptState(f"{redact_url(self.url)}: a commit was applied in part ({reply[1]!r}): "
                           f"prefix {self.prefix!r} holds keys agent-coherence did not write",
                           url=redact_url(self.url),
                           recover="the store was modified outside agent-coherence; inspect it")

    def _note_absent(self, key: str) -> None:
        self._codec.forget(key)
        if len(self._absent) >= ABSENT_MEMORY:
            self._absent.clear()
        self._absent[key] = None

    def _log_commands(self, audit: AuditBatch) -> list[tuple[Any, ...]]:
        commands: list[tuple[Any, ...]] = [  # orjson: the text json.dumps writes (record_json)
            ("ZADD", self._audit_key + e.artifact, e.version, dumps(e, e.to_dict()))
            for e in audit.entries]
        for aid, bound in audit.trims().items():
            commands.append(("ZREMRANGEBYSCORE", self._audit_key + aid, "-inf", bound))
        return commands

    def append_audit(self, batch: AuditBatch) -> None:
        def append() -> None:
            with self._r.pipeline(transaction=True) as pipe:
                for command in self._log_commands(batch):
                    pipe.execute_command(*command)
                pipe.execute()

        self._call("appending to the audit log failed", append)

    def audit(self, artifact: str | None = None, since: float | None = None,
              limit: int | None = None) -> list[AuditEntry]:
        ids = [artifact] if artifact is not None else [k[2:] for k in self.keys("a/")]

        def read() -> list[Any]:
            with self._r.pipeline(transaction=False) as pipe:
                for aid in ids:
                    pipe.zrange(self._audit_key + aid, 0, -1)
                return pipe.execute()

        found = self._call("reading the audit log failed", read) if ids else []
        return select([AuditEntry.decode(b) for bodies in found for b in bodies], artifact,
                      since, limit)

    def _call(self, what: str, fn: Any) -> Any:
        """Run an idempotent command, retried if a pooled connection went stale."""
        for attempt in range(READ_RETRIES + 1):
            try:
                return fn()
            except _ERRORS as exc:
                if attempt == READ_RETRIES:
                    raise unavailable(self.url, what, exc) from exc
                time.sleep(random.uniform(0, 0.002 * 2 ** attempt))
        raise AssertionError("unreachable")

    def get(self, key: str) -> Record | None:
        body = self._call("read failed", lambda: self._r.get(self._rec + key))
        return None if body is None else self._codec.decode(key, body)

    def keys(self, prefix: str) -> list[str]:
        p = prefix.encode()
        lo, hi = b"[" + p, b"(" + p + b"\xff"  # UTF-8 never holds 0xff: every key with the prefix
        found = self._call("listing failed", lambda: self._r.zrangebylex(self._idx, lo, hi))
        return [k.decode() for k in found]

    def records(self, prefix: str) -> list[tuple[str, Record]]:
        found = []
        decode = self._codec.decode
        for batch in _chunks(self.keys(prefix), CHUNK):
            bodies = self._call("read failed", lambda b=batch: self._r.mget([self._rec + k for k in b]))
            found += [(k, decode(k, body)) for k, body in zip(batch, bodies, strict=True)
                      if body is not None]
        return found

    def put_blob(self, digest: str, data: bytes) -> None:
        def put() -> None:
            with self._r.pipeline(transaction=True) as pipe:
                pipe.set(self._blob + digest, bytes(data))
                pipe.zadd(self._bt, {digest: time.time()})
                pipe.execute()

        self._call("storing content failed", put)

    def get_blob(self, digest: str) -> bytes | None:
        return self._call("reading content failed", lambda: self._r.get(self._blob + digest))

    def blob_digests(self, stored_before: float | None = None) -> set[str]:
        top = "+inf" if stored_before is None else f"({stored_before!r}"
        found = self._call("listing content failed", lambda: self._r.zrangebyscore(self._bt, "-inf", top))
        return {d.decode() for d in found}

    def delete_blobs(self, digests: Iterable[str]) -> int:
        digests = list(digests)
        if not digests:
            return 0

        def delete() -> int:
            with self._r.pipeline(transaction=True) as pipe:
                for d in digests:
                    pipe.delete(self._blob + d)
                pipe.zrem(self._bt, *digests)
                return sum(pipe.execute()[:-1])

        return self._call("deleting content failed", delete)

    def collect_garbage(self, stored_before: float) -> int:
        top = f"({stored_before!r}"
        for attempt in range(GC_RETRIES):
            try:
                return self._call("collecting garbage failed", lambda: self._collect(top))
            except redis.WatchError:
                time.sleep(random.uniform(0, 0.002 * 2 ** attempt))
        raise BackendUnavailable(
            f"{redact_url(self.url)}: garbage collection lost {GC_RETRIES} races with commits of "
            "the content it was collecting; try again", url=redact_url(self.url), reason="contention",
            recover="commits kept replacing the content being collected: run gc() again later; "
                    "nothing was deleted by this attempt")

    def _collect(self, top: str) -> int:
        old = self._r.zrangebyscore(self._bt, "-inf", top)
        if not old:
            return 0
        with self._r.pipeline(transaction=True) as pipe:
            for batch in _chunks(old, CHUNK):
                pipe.watch(*(self._blob.encode() + d for d in batch))
            # Listed again once watched: content put_blob refreshed meanwhile is no longer old.
            doomed = set(old) & set(pipe.zrangebyscore(self._bt, "-inf", top))
            for batch in _chunks(pipe.zrangebylex(self._idx, b"[a/", b"(a0"), CHUNK):  # 'a/' keys
                for key, body in zip(batch, pipe.mget(*(self._rec.encode() + k for k in batch)),
                                     strict=True):
                    if body is not None:
                        doomed.difference_update(
                            d.encode() for d in record_digests(decode_record(key.decode(), body)))
            hit("backend.gc.before_delete")
            if not doomed:
                pipe.unwatch()
                return 0
            pipe.multi()
            for batch in _chunks(doomed, CHUNK):
                pipe.delete(*(self._blob.encode() + d for d in batch))
            pipe.zrem(self._bt, *doomed)
            return sum(pipe.execute()[:-1])

    def drop_all(self) -> int:
        """Delete every key of this store's prefix (tests and tear-down)."""
        tag = "{" + self.prefix + "}:*"
        n = 0
        for batch in _chunks(self._r.scan_iter(match=tag, count=1000), 500):
            n += self._r.delete(*batch)
        return n

    def close(self) -> None:
        self._r.close()


class _SentApply(Exception):
    """The connection failed after a writing script was sent: it may or may not have run."""


def _chunks(it: Iterable[Any], n: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for x in it:
        batch.append(x)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch
