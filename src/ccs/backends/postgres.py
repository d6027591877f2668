"""PostgreSQL engine: many hosts share one database.

``postgresql://user:password@host:5432/dbname?schema=ccs&pool_max=8`` (other query parameters,
such as ``connect_timeout`` or ``sslmode``, go to libpq unchanged). Tables live in their own
schema (default ``ccs``), so several independent stores can share one database.

``transact(keys, fn)`` is one transaction on one pooled connection:

1. ``pg_advisory_xact_lock`` on a 64-bit hash of every key, in ascending hash order. A row lock
   cannot protect a key that has no row yet; the advisory lock does, so two transactions that
   create the same new key serialize instead of racing to insert it. One global order: no
   deadlock between our own transactions (a deadlock with a foreign writer is retried).
2. ``SELECT ... ORDER BY key FOR UPDATE`` of the existing rows.
3. ``fn(records)`` in Python; its changes are upserted or deleted; ``COMMIT``.

Steps 1-2 are one statement (``ccs_lock_v1``, postgres_sql.py) in one round trip, and step 3's
writes (one statement, ``ccs_apply_v1``) plus ``COMMIT`` in another (psycopg pipeline mode).
That is the *locking path*. In a steady state a commit takes one round trip instead: when the
engine remembers every key's stored body (``RecordCodec``), it runs ``fn`` on those records first
and sends steps 1-3 as one autocommit statement, ``ccs_apply_v1`` with ``ccs_expect_v1`` checking
under the same locks that the bodies are the ones assumed; if one is not, the statement rolls
back and the locking path runs ``fn`` again on the real records (postgres_apply.py has the
details).

A connection failure before the writes were sent is retried on a fresh connection (nothing was
applied); a failure after that is reported as ``OutcomeUnknown``: callers retry with the same
idempotency id, which resolves it. A speculation sends its writes at once, so it is not tried on
a pooled connection the server has sent something to while it was idle (a termination notice,
its end of the connection closed: a restart): the locking path finds such a connection dead
before it writes, and retries. An error the server reports for the transaction (with an
SQLSTATE, the connection alive) means it was rolled back: nothing was applied.

Audit entries (table ``audit``, schema version 3) are inserted in step 3 with the records they
describe, and each artifact's log trimmed there (an indexed range delete): the same round trip,
the same commit. A transaction with no record changes but entries to store commits them instead
of rolling back.

Every option of the URL (ours and libpq's) is checked before the first connection is made.

Content travels with the transaction that first references it (``transact(..., blobs)``): step
3 also inserts it (``ON CONFLICT DO NOTHING``), so it is exactly as durable as the record — one
commit, one fsync, no round trip of its own — and a commit that is refused stores nothing.

Garbage collection takes ``pg_advisory_xact_lock(GC)`` for a READ COMMITTED transaction that
lists old blobs, scans the artifact records and deletes the unreferenced ones. A transaction that
stores content first takes ``pg_advisory_xact_lock_shared(GC)`` in step 3, before its inserts
(transactions without content never touch it: they make no record reference anything new). The
two modes exclude each other and a lock is released only after its commit is visible, so either
the commit's shared lock came first (the collection waits, then its scan sees the commit's
record) or the collection's (the commit waits, then inserts its content again if it was just
deleted). The content the record already referenced (retained versions) is safe meanwhile: the
committed row, locked since step 1, references it in every scan until this commit replaces it.
Commits queue behind a waiting collection, so they pause for the length of one scan.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

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
    prefix_upper_bound,
    record_digests,
    unpack,
)
from ccs.backends.postgres_apply import (
    Speculation,
    Speculator,
    Writes,
    array_literal,
    body_digest,
    number_array,
    spoken_to,
)
from ccs.backends.postgres_sql import LOCK_FUNCTION, MISMATCH, ensure_functions
from ccs.backends.postgres_url import parse_postgres_url
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

SCHEMA_VERSION = 3
APPLICATION = "agent-coherence"
READ_RETRIES = 4

_SCHEMA_V1 = """
CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE {s}.records (key text COLLATE "C" PRIMARY KEY, body text NOT NULL);
CREATE TABLE {s}.blobs (digest text PRIMARY KEY, data bytea NOT NULL)
"""
# Each migration takes the schema from version N to N+1, inside the same transaction.
_MIGRATIONS = {
    1: "ALTER TABLE {s}.blobs ADD COLUMN stored_at double precision NOT NULL DEFAULT 0;"
       "CREATE INDEX blobs_stored_at ON {s}.blobs (stored_at)",
    2: "CREATE TABLE {s}.audit (id bigserial PRIMARY KEY, artifact text COLLATE \"C\" NOT NULL, "
       "version bigint NOT NULL, at double precision NOT NULL, body text NOT NULL);"
       "CREATE INDEX audit_artifact ON {s}.audit (artifact, version)",
}


def _trouble(exc: BaseException) -> bool:
    """A connection problem (retry on a fresh connection), not a refusal by the server."""
    if isinstance(exc, PoolTimeout):
        return True
    state = getattr(exc, "sqlstate", None)
    if state is None:
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
    return state[:2] in ("08", "57") or state == "53300"  # connection, shutdown, too many clients


def _outcome_unknown(exc: BaseException) -> bool:
    """After COMMIT was sent: only an error the server sent for this transaction, on a live
    connection, proves it rolled back; anything else (a lost connection, a crash) proves nothing."""
    state = getattr(exc, "sqlstate", None)
    return state is None or state[:2] in ("08", "57", "58", "XX")


def _unavailable(url: str, what: str, exc: BaseException, *, applied: bool | None = None
                 ) -> BackendUnavailable:
    """``applied=False``: the failure is known to have changed nothing, and the hint says so."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    state = getattr(exc, "sqlstate", None) or ""
    if state in ("53100", "53200"):  # disk full, out of memory
        return StorageFull(f"{redact_url(url)}: {what}: {reason}", url=redact_url(url), sqlstate=state,
                           recover="the database server is out of disk or memory: free some, then "
                                   "retry" + ("; nothing was applied" if applied is False else ""))
    auth = isinstance(exc, psycopg.OperationalError) and (
        "authentication" in reason or "role" in reason or "password" in reason)
    recover = "check the user name and password in the URL" if auth else \
        "check that the PostgreSQL server is reachable, then retry"
    return BackendUnavailable(
        f"{redact_url(url)}: {what}: {reason}", url=redact_url(url),
        reason="authentication" if auth else "connection",
        recover=recover + ("; nothing was applied" if applied is False else ""))


class PostgresBackend(Backend):
    _driver_errors = (psycopg.Error, PoolTimeout)

    def __init__(self, url: str) -> None:
        self.url = url
        self.conninfo, self.schema, own = parse_postgres_url(url)
        self._codec = RecordCodec(digest=body_digest)
        self._lock_ids: dict[str, int] = {}  # key -> advisory lock id (a hash: computed once)
        s = f'"{self.schema}"'
        self._q_lock = f"SELECT k, b FROM {s}.{LOCK_FUNCTION}(%s::text[], %s::bigint[])"
        self._q_get = f"SELECT body FROM {s}.records WHERE key = %s"
        self._q_put_blob = (f"INSERT INTO {s}.blobs (digest, data, stored_at) VALUES (%s, %s, %s) "
                            "ON CONFLICT (digest) DO UPDATE SET stored_at = EXCLUDED.stored_at")
        self._q_get_blob = f"SELECT data FROM {s}.blobs WHERE digest = %s"
        self._q_digests = f"SELECT digest FROM {s}.blobs WHERE stored_at < %s"
        self._q_del_blobs = f"DELETE FROM {s}.blobs WHERE digest = ANY(%s)"
        # Every artifact record: keys from 'a/' up to 'a0' ('0' follows '/'; the column is "C").
        self._q_artifacts = f"SELECT key, body FROM {s}.records WHERE key >= 'a/' AND key < 'a0'"
        self._q_collect = f"DELETE FROM {s}.blobs WHERE digest = ANY(%s) AND stored_at < %s"
        self._q_audit_all = f"SELECT body FROM {s}.audit WHERE at >= %s ORDER BY id"
        self._q_audit_one = (f"SELECT body FROM {s}.audit WHERE at >= %s AND artifact = %s "
                             "ORDER BY id")
        self._gc_lock = self._lock_id("\0gc")
        self._writes = Writes(self.schema, self._codec, self._gc_lock)
        self.speculator = Speculator(self._codec)
        try:
            with psycopg.connect(self.conninfo, autocommit=True) as conn:
                self._prepare_schema(conn)
        except psycopg.Error as exc:
            raise self._typed_error(exc, "cannot open the store") from exc
        try:
            self._pool = ConnectionPool(
                self.conninfo, min_size=int(own.get("pool_min", "1")),
                max_size=int(own.get("pool_max", "8")), kwargs={"autocommit": True},
                name=f"ccs-{self.schema}", timeout=10.0, open=True)
        except (psycopg.Error, PoolTimeout) as exc:
            raise _unavailable(url, "cannot open a connection pool", exc) from exc

    # --- schema --------------------------------------------------------------------------------

    def _prepare_schema(self, conn: psycopg.Connection) -> None:
        s = f'"{self.schema}"'
        where = redact_url(self.url)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_id("\0schema"),))
            tables = {r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (self.schema,))}
            if not tables:
                conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
                for stmt in _SCHEMA_V1.format(s=s).strip().split(";"):
                    conn.execute(stmt)
                conn.execute(f"INSERT INTO {s}.meta VALUES ('application', %s), ('schema_version', '1')",
                             (APPLICATION,))
                tables = {"meta"}
            if "meta" not in tables:
                raise CorruptState(
                    f"{where}: schema {self.schema!r} holds tables of another application "
                    f"({', '.join(sorted(tables))}); refusing to touch it", url=where)
            meta = dict(conn.execute(f"SELECT key, value FROM {s}.meta").fetchall())
            if meta.get("application") != APPLICATION:
                raise CorruptState(f"{where}: schema {self.schema!r} is not an {APPLICATION} store",
                                   url=where)
            version = int(meta.get("schema_version", "0"))
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{where}: schema {self.schema!r} has version {version}; this release supports "
                    f"up to {SCHEMA_VERSION}", url=where, schema_version=version)
            if version < 1:
                raise CorruptState(f"{where}: schema {self.schema!r} has no valid schema_version",
                                   url=where)
            while version < SCHEMA_VERSION:
                for stmt in _MIGRATIONS[version].format(s=s).split(";"):
                    conn.execute(stmt)
                version += 1
            conn.execute(f"UPDATE {s}.meta SET value = %s WHERE key = 'schema_version'", (str(version),))
            ensure_functions(conn, self.schema)

    def _typed_error(self, exc: BaseException, operation: str) -> CoherenceError:
        if _trouble(exc) or getattr(exc, "sqlstate", "") in ("53100", "53200"):
            return _unavailable(self.url, operation, exc)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return EngineError(f"{redact_url(self.url)}: {operation}: {reason}", url=redact_url(self.url),
                           sqlstate=getattr(exc, "sqlstate", None))

    def _lock_id(self, key: str) -> int:
        found = self._lock_ids.get(key)
        if found is None:
            digest = hashlib.blake2b(f"{self.schema}\0{key}".encode(), digest_size=8).digest()
            found = int.from_bytes(digest, "big", signed=True)
            if len(self._lock_ids) >= 4096:
                self._lock_ids.clear()
            self._lock_ids[key] = found
        return found

    # --- contract ------------------------------------------------------------------------------

    def transact(self, keys: Sequence[str], fn: TransactFn[R], blobs: Blobs | None = None) -> R:
        keys = list(dict.fromkeys(keys))
        locks = sorted({self._lock_id(k) for k in keys})
        guess = self.speculator.guess(keys, fn, blobs)
        for attempt in range(READ_RETRIES + 1):
            state = {"sent_writes": False}
            try:
                with self._pool.connection() as conn:
                    if guess is not None:
                        tried, guess = guess, None  # once: a retry takes the locking path
                        if spoken_to(conn):  # dead, most likely: find out on the locking path
                            return self._transact_once(conn, keys, locks, fn, state, blobs)
                        if self._commit_speculation(conn, keys, locks, tried, state):
                            return tried.result
                        state["sent_writes"] = False  # it rolled back: nothing was applied
                    return self._transact_once(conn, keys, locks, fn, state, blobs)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
                if attempt == READ_RETRIES:
                    raise _unavailable(self.url, "transaction kept failing", exc, applied=False) from exc
            except (psycopg.Error, PoolTimeout) as exc:
                if state["sent_writes"] and _outcome_unknown(exc):
                    raise OutcomeUnknown(
                        f"{redact_url(self.url)}: connection lost while committing (outcome unknown; "
                        f"retry with the same commit id): {str(exc).strip() or type(exc).__name__}",
                        url=redact_url(self.url), reason="connection") from exc
                if not _trouble(exc):  # the server refused the transaction: it rolled back
                    err = self._typed_error(exc, "the server refused the transaction")
                    err.recover += "; nothing was applied"
                    raise err from exc
                if attempt == READ_RETRIES:
                    raise _unavailable(self.url, "transaction failed", exc, applied=False) from exc
                self._pool.check()
            time.sleep(random.uniform(0, 0.002 * 2 ** attempt))
        raise AssertionError("unreachable")

    def _commit_speculation(self, conn: psycopg.Connection, keys: list[str], locks: list[int],
                            guess: Speculation, state: dict[str, bool]) -> bool:
        """The check and the writes in one statement, one implicit transaction (the connection is
        in autocommit); ``False``: the check failed and the statement rolled back, nothing
        applied. Not pipelined: a failed statement leaves psycopg's prepared statements right."""
        hit("backend.before_write")
        params = self._writes.params((keys, locks, guess.digests), guess.changes, guess.content,
                                     guess.audit, guess.notice)
        state["sent_writes"] = True
        try:
            conn.execute(self._writes.q_apply, params)
        except psycopg.Error as exc:
            if getattr(exc, "sqlstate", None) != MISMATCH:
                raise
            self.speculator.missed(keys)
            return False
        self.speculator.counts["committed"] += 1
        return True

    def _transact_once(self, conn: psycopg.Connection, keys: list[str], locks: list[int],
                       fn: TransactFn[R], state: dict[str, bool], blobs: Blobs | None) -> R:
        # BEGIN/COMMIT are sent by hand in pipeline mode: two round trips in all, one for the
        # locks and reads (one statement), one for the writes (one statement) and the COMMIT.
        # The records are read on a cursor of their own (one cursor once mixed up the results).
        with conn.pipeline(), conn.cursor() as cur, conn.cursor() as reader:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                cur.execute("ROLLBACK")  # left in a transaction (not expected): in the same flush
            cur.execute("BEGIN")
            try:
                reader.execute(self._q_lock, (array_literal(keys), number_array(locks)))
                records: dict[str, Any] = dict.fromkeys(keys)
                for key, body in reader.fetchall():
                    records[key] = self._codec.decode(key, body)
                changes, result, audit, notice = unpack(fn(records))
                content = new_content(records, changes, blobs) if changes else None
            except BaseException:
                if not conn.closed:
                    cur.execute("ROLLBACK")
                raise
            if not changes and audit is None:
                cur.execute("ROLLBACK")
                return result
            hit("backend.before_write")
            params = self._writes.params(None, changes, content, audit, notice)
            state["sent_writes"] = True
            cur.execute(self._writes.q_apply, params)
            cur.execute("COMMIT")  # leaving the pipeline sends the one Sync and reads its reply
        return result

    def append_audit(self, batch: AuditBatch) -> None:
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                self._writes.log(cur, batch)
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._typed_error(exc, "appending to the audit log failed") from exc

    def audit(self, artifact: str | None = None, since: float | None = None,
              limit: int | None = None) -> list[AuditEntry]:
        low = float("-inf") if since is None else float(since)
        if artifact is None:
            rows = self._query(self._q_audit_all, (low,), "reading the audit log failed")
        else:
            rows = self._query(self._q_audit_one, (low, artifact), "reading the audit log failed")
        return select([AuditEntry.decode(r[0]) for r in rows], artifact, None, limit)

    def _query(self, sql: str, params: Sequence[Any], what: str) -> list[tuple[Any, ...]]:
        """A one-statement autocommit query, retried on a fresh connection if one went stale."""
        for attempt in range(READ_RETRIES + 1):
            try:
                with self._pool.connection() as conn:
                    return conn.execute(sql, params).fetchall()
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if attempt == READ_RETRIES or not _trouble(exc):
                    raise self._typed_error(exc, what) from exc
                self._pool.check()
                time.sleep(random.uniform(0, 0.002 * 2 ** attempt))
        raise AssertionError("unreachable")

    def get(self, key: str) -> Record | None:
        rows = self._query(self._q_get, (key,), "read failed")
        return None if not rows else self._codec.decode(key, rows[0][0])

    def keys(self, prefix: str) -> list[str]:
        return [r[0] for r in self._range("key", prefix)]

    def records(self, prefix: str) -> list[tuple[str, Record]]:
        decode = self._codec.decode
        return [(key, decode(key, body)) for key, body in self._range("key, body", prefix)]

    def _range(self, columns: str, prefix: str) -> list[tuple[Any, ...]]:
        upper = prefix_upper_bound(prefix)
        where, params = ("key >= %s", (prefix,)) if upper is None else \
            ("key >= %s AND key < %s", (prefix, upper))
        return self._query(f'SELECT {columns} FROM "{self.schema}".records WHERE {where} ORDER BY key',
                           params, "listing failed")

    def put_blob(self, digest: str, data: bytes) -> None:
        for attempt in range(READ_RETRIES + 1):
            try:
                with self._pool.connection() as conn:
                    conn.execute(self._q_put_blob, (digest, bytes(data), time.time()))
                return
            except (psycopg.OperationalError, PoolTimeout) as exc:
                if attempt == READ_RETRIES:
                    raise _unavailable(self.url, "storing content failed", exc) from exc
                self._pool.check()  # the insert is idempotent: retrying is always safe

    def get_blob(self, digest: str) -> bytes | None:
        rows = self._query(self._q_get_blob, (digest,), "reading content failed")
        return None if not rows else bytes(rows[0][0])

    def blob_digests(self, stored_before: float | None = None) -> set[str]:
        limit = float("inf") if stored_before is None else stored_before
        return {r[0] for r in self._query(self._q_digests, (limit,), "listing content failed")}

    def delete_blobs(self, digests: Iterable[str]) -> int:
        digests = list(digests)
        if not digests:
            return 0
        try:
            with self._pool.connection() as conn:
                return conn.execute(self._q_del_blobs, (digests,)).rowcount
        except (psycopg.Error, PoolTimeout) as exc:
            raise _unavailable(self.url, "deleting content failed", exc) from exc

    def collect_garbage(self, stored_before: float) -> int:
        try:
            with self._pool.connection() as conn:
                try:
                    # READ COMMITTED: each statement below sees every commit that held the
                    # shared lock before this one was granted (whatever the server's default).
                    conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (self._gc_lock,))
                    doomed = {r[0] for r in conn.execute(self._q_digests, (stored_before,))}
                    if doomed:
                        for key, body in conn.execute(self._q_artifacts):
                            doomed.difference_update(record_digests(decode_record(key, body)))
                    hit("backend.gc.before_delete")
                    n = conn.execute(self._q_collect, (list(doomed), stored_before)).rowcount if doomed else 0
                    conn.execute("COMMIT")
                    return n
                except BaseException:
                    if not conn.closed:
                        with contextlib.suppress(psycopg.Error):
                            conn.execute("ROLLBACK")
                    raise
        except (psycopg.Error, PoolTimeout) as exc:
            raise _unavailable(self.url, "collecting garbage failed", exc) from exc

    def drop_schema(self) -> None:
        """Delete this store's schema and everything in it (tests and tear-down)."""
        with self._pool.connection() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def close(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.close()
