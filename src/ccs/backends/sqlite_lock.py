"""Taking SQLite's write lock (``BEGIN IMMEDIATE``) without sleeping milliseconds under contention.

SQLite's own busy handler sleeps 1, 2, 5, 10... ms between attempts, while a commit of this
engine holds the lock for about 0.1 ms: with several processes committing, every collision cost
a millisecond or more. Once a ``BEGIN`` of a thread had to wait (over 1 ms), its next ones for
``contended_for`` seconds are tried without SQLite's wait (``busy_timeout`` 0 for that statement
only; every other statement keeps the engine's timeout) and retried after 20 µs, doubling up to
1 ms, until the busy timeout has passed: the same bound and the same ``BackendUnavailable`` after
it, nothing applied. Uncontended, a commit pays for none of this (setting the pragma twice costs
two statement preparations, ~30k instructions).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time

from ccs.protocol.errors import BackendUnavailable

_BUSY = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED


class WriteLock:
    __slots__ = ("_restore", "busy_timeout", "contended_for", "url")

    def __init__(self, url: str, busy_timeout: float, contended_for: float = 1.0) -> None:
        self.url = url
        self.busy_timeout = busy_timeout
        self.contended_for = contended_for
        # the timeout sqlite3.connect(timeout=) set on the connection, restored after a retry
        self._restore = f"PRAGMA busy_timeout={int(busy_timeout * 1000)}"

    def begin(self, conn: sqlite3.Connection, local: threading.local) -> None:
        """``BEGIN IMMEDIATE`` on ``conn``; ``local`` (the thread's) remembers contention."""
        start = time.monotonic()
        if start >= getattr(local, "contended_until", 0.0):
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _code(exc) not in _BUSY:
                    raise
                raise self._timed_out(exc) from exc
            waited = time.monotonic() - start
            if waited > 1e-3:
                local.contended_until = start + waited + self.contended_for
            return
        conn.execute("PRAGMA busy_timeout=0")
        try:
            self._retry(conn, local)
        finally:
            try:
                conn.execute(self._restore)
            except BaseException:
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise

    def _retry(self, conn: sqlite3.Connection, local: threading.local) -> None:
        deadline, pause = 0.0, 20e-6
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                if deadline:  # still contended: stay in this mode
                    local.contended_until = time.monotonic() + self.contended_for
                return
            except sqlite3.OperationalError as exc:
                if _code(exc) not in _BUSY:
                    raise
                now = time.monotonic()
                deadline = deadline or now + self.busy_timeout
                if now >= deadline:
                    raise self._timed_out(exc) from exc
            time.sleep(pause)
            pause = min(pause * 2, 1e-3)

    def _timed_out(self, exc: BaseException) -> BackendUnavailable:
        return BackendUnavailable(f"{self.url}: could not start a transaction: {exc}",
                                  recover="another process held the write lock for the whole "
                                          "busy timeout: retry; nothing was applied")


def _code(exc: BaseException) -> int:
    return (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
