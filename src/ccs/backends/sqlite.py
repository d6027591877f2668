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
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from urllib.parse import parse_qs, urlsplit

from ccs.backends.base import (
    Backend,
    Blobs,
    R,
    Record,
    TransactFn,
    decode_record,
    encode_record,
    new_content,
    record_digests,
)
from ccs.failpoints import hit
from ccs.protocol.errors import BackendUnavailable, CorruptState, SchemaTooNew, UnknownEngine

SCHEMA_VERSION = 3
APPLICATION = "agent-coherence"

_SCHEMA_V1 = """
CREATE TABLE ccs_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE ccs_records (key TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE ccs_blobs (digest TEXT PRIMARY KEY, data BLOB NOT NULL) WITHOUT ROWID;
"""

# Each migration takes the schema from version N to N+1.
_MIGRATIONS = {
    1: "CREATE TABLE ccs_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)",
    2: "ALTER TABLE ccs_blobs ADD COLUMN stored_at REAL NOT NULL DEFAULT 0",
}


def sqlite_path(url: str) -> tuple[str, dict[str, str]]:
    """``sqlite:///rel/state.db`` is relative, ``sqlite:////abs/state.db`` is absolute."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or not url.startswith("sqlite:///"):
        raise UnknownEngine(f"not a sqlite URL: {url!r} (expected sqlite:///path/state.db)")
    path = url[len("sqlite:///"):].split("?", 1)[0]
    if not path:
        raise UnknownEngine(f"sqlite URL without a path: {url!r}")
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return path, params


class SqliteBackend(Backend):
    def __init__(self, url: str, *, busy_timeout: float | None = None,
                 synchronous: str | None = None) -> None:
        path, params = sqlite_path(url)
        self.url = url
        self.path = os.path.abspath(path)
        self.busy_timeout = float(busy_timeout or params.get("busy_timeout", 30.0))
        self.synchronous = (synchronous or params.get("synchronous", "NORMAL")).upper()
        if self.synchronous not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise UnknownEngine(f"synchronous={self.synchronous!r} is not a SQLite setting")
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
            except sqlite3.DatabaseError as exc:
                raise CorruptState(f"{self.path} is not a usable SQLite database: {exc}",
                                   path=self.path) from exc
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def _prepare_schema(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise CorruptState(f"{self.path} is not a usable SQLite database: {exc}",
                               path=self.path) from exc
        try:
            try:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            except sqlite3.DatabaseError as exc:
                raise CorruptState(f"{self.path} is not a usable SQLite database: {exc}",
                                   path=self.path) from exc
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
            version = int(meta.get("schema_version", "0"))
            if version > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"{self.path} has schema version {version}; this release supports up to "
                    f"{SCHEMA_VERSION}", path=self.path, schema_version=version)
            while version < SCHEMA_VERSION:
                conn.execute(_MIGRATIONS[version])
                version += 1
            conn.execute("UPDATE ccs_meta SET value=? WHERE key='schema_version'", (str(version),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # --- contract ----------------------------------------------------------------------------

    def transact(self, keys: Sequence[str], fn: TransactFn[R], blobs: Blobs | None = None) -> R:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise BackendUnavailable(f"{self.url}: could not start a transaction: {exc}") from exc
        try:
            records = {k: None for k in keys}
            marks = ",".join("?" * len(keys))
            for key, body in conn.execute(
                    f"SELECT key, body FROM ccs_records WHERE key IN ({marks})", list(keys)):
                records[key] = decode_record(key, body)
            changes, result = fn(records)
            hit("backend.before_write")
            if changes:
                for digest, data in new_content(records, changes, blobs).items():
                    conn.execute("INSERT OR IGNORE INTO ccs_blobs (digest, data, stored_at) "
                                 "VALUES (?, ?, ?)", (digest, data, time.time()))
            for key, rec in changes.items():
                if rec is None:
                    conn.execute("DELETE FROM ccs_records WHERE key=?", (key,))
                else:
                    conn.execute("INSERT OR REPLACE INTO ccs_records VALUES (?, ?)",
                                 (key, encode_record(rec)))
            conn.execute("COMMIT")
            return result
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def get(self, key: str) -> Record | None:
        row = self._conn().execute("SELECT body FROM ccs_records WHERE key=?", (key,)).fetchone()
        return None if row is None else decode_record(key, row[0])

    def keys(self, prefix: str) -> list[str]:
        rows = self._conn().execute(
            "SELECT key FROM ccs_records WHERE key >= ? AND key < ?", (prefix, prefix + "\U0010ffff"))
        return [r[0] for r in rows]

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
