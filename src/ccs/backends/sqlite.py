"""SQLite engine: one host, many processes on one file.

WAL mode, ``BEGIN IMMEDIATE`` for every read-modify-write (a deferred transaction that reads and
then writes fails under contention without waiting), a busy timeout, one connection per thread.
Content lives in its own table by hash. The schema is versioned and upgraded in place.

Content is written inside the ``BEGIN IMMEDIATE`` transaction of the records that reference it
(``INSERT OR IGNORE``: present content stays). ``collect_garbage`` scans the records and deletes
in one ``BEGIN IMMEDIATE`` transaction of its own, which SQLite serializes with every commit of
every process: a commit lands either before it (its record is scanned) or after it (and stores
its content again if it was collected). Commits wait for the collection, which reads every
artifact record once.

Audit entries (``ccs_audit``, schema version 4) are inserted inside the same ``BEGIN IMMEDIATE``
transaction as the records they describe, and each artifact's log trimmed there (one indexed
range delete), so a commit and its entry land together or not at all.

Schema 5 moved the records into a rowid table, where a body of up to ~4 KB stays in its b-tree
leaf (no overflow page per commit). A store of an older schema is upgraded in place when first
opened (one transaction); a store of a newer schema is refused (``SchemaTooNew``).

``sqlite:///path/state.db?busy_timeout=30&synchronous=NORMAL``: both options are checked before
the file is touched. A damaged file is ``CorruptState`` from whichever operation meets the damage;
a full disk is ``StorageFull``; an error on ``COMMIT`` itself leaves the outcome unknown
(``OutcomeUnknown``), an error before it rolled the transaction back (nothing was applied).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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
from ccs.backends.record_json import encode_entry
from ccs.backends.sqlite_apply import Guesser
from ccs.backends.sqlite_lock import WriteLock
from ccs.backends.sqlite_url import check_options, sqlite_path
from ccs.failpoints import hit
from ccs.protocol.audit import TRIM_BATCHES, AuditBatch, AuditEntry, select
from ccs.protocol.errors import (
    BackendUnavailable,
    CoherenceError,
    CorruptState,
    EngineError,
    OutcomeUnknown,
    SchemaTooNew,
    StorageFull,
)
from ccs.protocol.records import ArtifactRecord

SCHEMA_VERSION = 5
APPLICATION = "agent-coherence"

_SCHEMA_V1 = """
CREATE TABLE ccs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ccs_records (key TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE ccs_blobs (digest TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
"""

# Primary result codes (https://sqlite.org/rescode.html) and what they mean for a caller.
_CORRUPT, _NOTADB, _FULL = 11, 26, 13
_TRANSIENT = {5, 6, 7, 10, 14, 15}  # BUSY, LOCKED, NOMEM, IOERR, CANTOPEN, PROTOCOL

# Each migration takes the schema from version N to N+1.
_MIGRATIONS = {
    1: "CREATE TABLE ccs_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)",
    2: "ALTER TABLE ccs_blobs ADD COLUMN stored_at REAL NOT NULL DEFAULT 0",
    # One index, the one trimming needs: the hot path pays for one row and one index entry.
    # (No AUTOINCREMENT: rowids grow anyway, since trims never delete the newest row.)
    3: "CREATE TABLE ccs_audit (id INTEGER PRIMARY KEY, artifact TEXT NOT NULL, "
       "version INTEGER NOT NULL, at REAL NOT NULL, body TEXT NOT NULL);"
       "CREATE INDEX ccs_audit_artifact ON ccs_audit (artifact, version)",
    # Records in a rowid table: a 1-4 KB body is stored in its b-tree leaf, where a WITHOUT ROWID
    # table keeps ~1 KB of a row locally and the rest on an overflow page, which every update
    # rewrote, freed and reallocated (with the free-list pages and the header): ~7 WAL pages
    # per commit -> ~5 (docs/performance.md §3). The statements are the same for both layouts.
    4: "CREATE TABLE ccs_records_v5 (key TEXT PRIMARY KEY, body TEXT NOT NULL);"
       "INSERT INTO ccs_records_v5 (key, body) SELECT key, body FROM ccs_records ORDER BY key;"
       "DROP TABLE ccs_records;"
       "ALTER TABLE ccs_records_v5 RENAME TO ccs_records",
}
# An upsert, not INSERT OR REPLACE: REPLACE deletes the row and inserts it again, which costs a
# commit three to four times what updating the row in place does (docs/performance.md).
_Q_RECORD_UPSERT = ("INSERT INTO ccs_records (key, body) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET body = excluded.body")
_Q_AUDIT_INSERT = "INSERT INTO ccs_audit (artifact, version, at, body) VALUES (?, ?, ?, ?)"
_Q_AUDIT_TRIM = "DELETE FROM ccs_audit WHERE artifact = ? AND version <= ?"
_Q_BLOB_INSERT = "INSERT OR IGNORE INTO ccs_blobs (digest, data, stored_at) VALUES (?, ?, ?)"


@functools.lru_cache(maxsize=64)
def _select_records(n: int) -> str:
    """The statement reading ``n`` records (one text per key count, built once)."""
    return f"SELECT key, body FROM ccs_records WHERE key IN ({','.join('?' * n)})"


def _content_to_store(records: Mapping[str, Record | None], changes: Mapping[str, Record | None],
                      blobs: Blobs | None) -> dict[str, bytes]:
    """``new_content``, less the content a record read in this transaction already references.

    That content exists (the invariant: content a committed record references exists), and the
    write lock taken by ``BEGIN IMMEDIATE`` keeps a collection out until the commit, so its
    ``INSERT OR IGNORE`` would be a statement that changes nothing: it is not executed.
    """
    content = new_content(records, changes, blobs)
    if content:
        for key in changes:
            old = records.get(key)
            if old is not None and old.__class__ is ArtifactRecord:
                content.pop(old.content.digest, None)  # type: ignore[union-attr]
                for _, digest in old.history:  # type: ignore[union-attr]
                    content.pop(digest, None)
    return content


class SqliteBackend(Backend):
    _driver_errors = (sqlite3.Error,)

    def __init__(self, url: str, *, busy_timeout: float | None = None,
                 synchronous: str | None = None) -> None:
        path, params = sqlite_path(url)
        check_options(url, busy_timeout, synchronous)
        self.url = url
        self.path = os.path.abspath(path)
        self.busy_timeout = float(busy_timeout if busy_timeout is not None
                                  else params.get("busy_timeout", 30.0))
        self._lock = WriteLock(url, self.busy_timeout)
        self.synchronous = str(synchronous or params.get("synchronous", "NORMAL")).upper()
        self._codec = RecordCodec()
        self._guesser = Guesser(self._codec)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        parent = os.path.dirname(self.path)
        if parent and not os.path.isdir(parent):
            raise BackendUnavailable(f"directory for {url!r} does not exist: {parent}")
        conn = self._conn()
        try:
            self._prepare_schema(conn)
            # Only now, with the file known to be ours: WAL rewrites the header (persistent mode).
            conn.execute("PRAGMA journal_mode=WAL")
        except BaseException:
            self.close()
            raise

    # --- connections and schema ---------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout,
                                       isolation_level=None, check_same_thread=False)
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
            except sqlite3.Error as exc:
                if conn is not None:
                    conn.close()
                raise self._typed_error(exc, "open") from exc
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _prepare_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not tables:
                for stmt in _SCHEMA_V1.strip().split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute("INSERT INTO ccs_meta VALUES ('application', ?), ('schema_version', '1')",
                             (APPLICATION,))
                tables = {"ccs_meta"}
            if "ccs_meta" not in tables:
                raise CorruptState(
                    f"{self.path} is a SQLite database of another application "
                    f"(tables: {', '.join(sorted(tables))}); refusing to touch it", path=self.path)
            meta = dict(conn.execute("SELECT key, value FROM ccs_meta"))
            if meta.get("application") != APPLICATION:
                raise CorruptState(f"{self.path} is not an {APPLICATION} store", path=self.path)
            version = int(meta["schema_version"]) if str(meta.get("schema_version")).isdigit() else 0
            if version < 1:
                raise CorruptState(f"{self.path} has no valid schema_version", path=self.path)
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{self.path} has schema version {version}; this release supports up to "
                    f"{SCHEMA_VERSION}", path=self.path, schema_version=version)
            while version < SCHEMA_VERSION:
                for stmt in _MIGRATIONS[version].split(";"):
                    conn.execute(stmt)
                version += 1
            conn.execute("UPDATE ccs_meta SET value=? WHERE key='schema_version'", (str(version),))
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def _typed_error(self, exc: BaseException, operation: str) -> CoherenceError:
        primary = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        what = f"{self.path}: {operation}: {exc}"
        if primary in (_CORRUPT, _NOTADB):
            return CorruptState(f"{self.path} is not a usable SQLite database ({operation}: {exc})",
                                path=self.path)
        if primary == _FULL:
            return StorageFull(what, path=self.path, recover="the disk (or the database's size limit) "
                               "is full: free space, then retry; nothing was applied")
        if primary in _TRANSIENT:
            return BackendUnavailable(what, path=self.path, reason=getattr(exc, "sqlite_errorname", ""),
                                      recover="check the file and its directory, then retry; "
                                              "nothing was applied")
        return EngineError(what, path=self.path, reason=getattr(exc, "sqlite_errorname", None))

    # --- contract ----------------------------------------------------------------------------

    def transact(self, keys: Sequence[str], fn: TransactFn[R], blobs: Blobs | None = None) -> R:
        conn = self._conn()
        guess = self._guesser.guess(keys, fn, blobs)  # before the lock: fn on remembered records
        self._lock.begin(conn, self._local)
        try:
            if guess is not None:
                hit("backend.before_write")
                if conn.execute(guess.check, guess.params).rowcount == 1:  # the guess held
                    self._write(conn, guess.changes, guess.content, guess.audit, guess.notice)
                    self._commit(conn)
                    self._guesser.counts["committed"] += 1
                    return guess.result  # type: ignore[no-any-return]
                self._guesser.missed(guess, keys)  # nothing written: the locking path goes on
            records: dict[str, Record | None] = dict.fromkeys(keys)
            decode = self._codec.decode
            for key, body in conn.execute(_select_records(len(keys)), tuple(keys)):
                records[key] = decode(key, body)
            changes, result, audit, notice = unpack(fn(records))
            hit("backend.before_write")
            content = _content_to_store(records, changes, blobs) if changes else None
            self._write(conn, changes, content, audit, notice)
        except BaseException:
            _rollback(conn)
            raise
        self._commit(conn)
        return result

    def _write(self, conn: sqlite3.Connection, changes: Mapping[str, Record | None],
               content: Mapping[str, bytes] | None, audit: AuditBatch | None, notice: Any) -> None:
        """A transaction's writes: content, records, audit entries and trims, bus notice."""
        if content:
            if len(content) == 1:
                conn.execute(_Q_BLOB_INSERT, (*next(iter(content.items())), time.time()))
            else:
                now = time.time()
                conn.executemany(_Q_BLOB_INSERT, [(d, data, now) for d, data in content.items()])
        if changes:
            encode = self._codec.encode
            for key, rec in changes.items():
                if rec is None:
                    conn.execute("DELETE FROM ccs_records WHERE key=?", (key,))
                    self._codec.forget(key)
                else:
                    conn.execute(_Q_RECORD_UPSERT, (key, encode(key, rec)))
        if audit is not None:
            self._log(conn, audit)
        if notice:  # the events of this commit, for the bus's pollers (ccs.bus.sqlite)
            conn.executemany("INSERT INTO ccs_events (body) VALUES (?)", [(b,) for b in notice])

    def _commit(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:  # the transaction is still open: undo it, nothing applied
                _rollback(conn)
                raise
            raise OutcomeUnknown(f"{self.path}: COMMIT failed ({exc}); it may or may not have "
                                 "landed", path=self.path) from exc

    @staticmethod
    def _log(conn: sqlite3.Connection, audit: AuditBatch) -> None:
        entries = audit.entries
        if len(entries) == 1:  # a commit's one entry: no list, no executemany
            e = entries[0]
            conn.execute(_Q_AUDIT_INSERT, (e.artifact, e.version, e.at, encode_entry(e)))
            step = max(1, audit.retain // TRIM_BATCHES)  # AuditBatch.trims' rule, without the call
            if e.version % step or e.version <= audit.retain:
                return
        else:
            conn.executemany(_Q_AUDIT_INSERT, [(e.artifact, e.version, e.at, encode_entry(e))
                                               for e in entries])
        for aid, bound in audit.trims().items():
            conn.execute(_Q_AUDIT_TRIM, (aid, bound))

    def append_audit(self, batch: AuditBatch) -> None:
        conn = self._conn()
        self._lock.begin(conn, self._local)
        try:
            self._log(conn, batch)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def audit(self, artifact: str | None = None, since: float | None = None,
              limit: int | None = None) -> list[AuditEntry]:
        sql, params = "SELECT body FROM ccs_audit WHERE at >= ?", [-math.inf if since is None
                                                                   else float(since)]
        if artifact is not None:
            sql += " AND artifact = ?"
            params.append(artifact)
        rows = self._conn().execute(sql + " ORDER BY id", params).fetchall()
        return select([AuditEntry.decode(r[0]) for r in rows], artifact, None, limit)

    def get(self, key: str) -> Record | None:
        row = self._conn().execute("SELECT body FROM ccs_records WHERE key=?", (key,)).fetchone()
        return None if row is None else self._codec.decode(key, row[0])

    def keys(self, prefix: str) -> list[str]:
        return [r[0] for r in self._range("key", prefix)]

    def records(self, prefix: str) -> list[tuple[str, Record]]:
        decode = self._codec.decode
        return [(key, decode(key, body)) for key, body in self._range("key, body", prefix)]

    def _range(self, columns: str, prefix: str) -> sqlite3.Cursor:
        upper = prefix_upper_bound(prefix)
        if upper is None:
            return self._conn().execute(f"SELECT {columns} FROM ccs_records WHERE key >= ?", (prefix,))
        return self._conn().execute(
            f"SELECT {columns} FROM ccs_records WHERE key >= ? AND key < ?", (prefix, upper))

    def put_blob(self, digest: str, data: bytes) -> None:
        self._conn().execute("INSERT INTO ccs_blobs (digest, data, stored_at) VALUES (?, ?, ?) "
                             "ON CONFLICT (digest) DO UPDATE SET stored_at = excluded.stored_at",
                             (digest, data, time.time()))

    def get_blob(self, digest: str) -> bytes | None:
        row = self._conn().execute("SELECT data FROM ccs_blobs WHERE digest=?", (digest,)).fetchone()
        return None if row is None else bytes(row[0])

    def blob_digests(self, stored_before: float | None = None) -> set[str]:
        limit = float("inf") if stored_before is None else stored_before
        rows = self._conn().execute("SELECT digest FROM ccs_blobs WHERE stored_at < ?", (limit,))
        return {r[0] for r in rows}

    def delete_blobs(self, digests: Iterable[str]) -> int:
        conn = self._conn()
        n = 0
        for d in digests:
            n += conn.execute("DELETE FROM ccs_blobs WHERE digest=?", (d,)).rowcount
        return n

    def collect_garbage(self, stored_before: float) -> int:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable(f"{self.url}: could not start a collection: {exc}") from exc
        try:
            doomed = {r[0] for r in conn.execute(
                "SELECT digest FROM ccs_blobs WHERE stored_at < ?", (stored_before,))}
            if doomed:  # every artifact record: keys from 'a/' up to 'a0' ('0' follows '/')
                for key, body in conn.execute(
                        "SELECT key, body FROM ccs_records WHERE key >= 'a/' AND key < 'a0'"):
                    doomed.difference_update(record_digests(decode_record(key, body)))
            hit("backend.gc.before_delete")
            conn.executemany("DELETE FROM ccs_blobs WHERE digest = ?", [(d,) for d in doomed])
            conn.execute("COMMIT")
            return len(doomed)
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # --- events table, for the cross-process bus ---------------------------------------------

    def append_events(self, bodies: list[str]) -> None:
        self._conn().executemany("INSERT INTO ccs_events (body) VALUES (?)", [(b,) for b in bodies])

    def events_after(self, seq: int, limit: int = 1000) -> list[tuple[int, str]]:
        return self._conn().execute(
            "SELECT seq, body FROM ccs_events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()

    def last_event_seq(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(seq), 0) FROM ccs_events").fetchone()
        return int(row[0])

    def trim_events(self, keep_after: int) -> None:
        self._conn().execute("DELETE FROM ccs_events WHERE seq <= ?", (keep_after,))

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()


def _rollback(conn: sqlite3.Connection) -> None:
    """Undo the open transaction, if SQLite has not already (it does after some errors)."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
