"""The statements a SQLite commit executes: content a record read under the write lock already
references is not inserted again, new content is, and nothing else is dropped."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time

import pytest

from ccs.backends.base import artifact_key
from ccs.backends.sqlite import SqliteBackend
from ccs.protocol.audit import AuditBatch, AuditEntry
from ccs.protocol.errors import BackendUnavailable
from ccs.protocol.records import ArtifactRecord, Content

KEY = artifact_key("doc")


@pytest.fixture
def backend(tmp_path):
    b = SqliteBackend(f"sqlite:///{tmp_path}/state.db")
    yield b
    b.close()


def content(data: bytes) -> tuple[str, Content]:
    digest = hashlib.sha256(data).hexdigest()
    return digest, Content(digest, len(data), "bytes")


def commit(backend: SqliteBackend, data: bytes, *, history: tuple = ()) -> list[str]:
    """Write version+1 of KEY with ``data`` (its bytes passed along); the statements executed."""
    digest, c = content(data)
    seen: list[str] = []

    def fn(records):
        old = records[KEY]
        version = 1 if old is None else old.version + 1
        rec = ArtifactRecord("doc", version=version, content=c, history=history)
        entry = AuditEntry(time.time(), "doc", "write", "committed", "p@x", version - 1, version, 0)
        return {KEY: rec}, version, AuditBatch((entry,), retain=64)

    conn = backend._conn()
    conn.set_trace_callback(seen.append)
    try:
        backend.transact([KEY], fn, {digest: data})
    finally:
        conn.set_trace_callback(None)
    return seen


def blob_inserts(statements: list[str]) -> int:
    return sum("INTO ccs_blobs" in s for s in statements)


def test_new_content_is_inserted_with_the_record_and_its_audit_row(backend) -> None:
    statements = commit(backend, b"one")
    assert blob_inserts(statements) == 1
    work = [s for s in statements if not s.startswith("PRAGMA busy_timeout")]
    assert work[0] == "BEGIN IMMEDIATE" and work[-1] == "COMMIT"
    assert any("INTO ccs_records" in s for s in statements)
    assert any("INTO ccs_audit" in s for s in statements)
    assert backend.get_blob(content(b"one")[0]) == b"one"
    assert [e.version for e in backend.audit("doc")] == [1]


def test_content_the_stored_record_references_is_not_inserted_again(backend) -> None:
    commit(backend, b"same")
    again = commit(backend, b"same")  # the record read under the lock references it: it exists
    assert blob_inserts(again) == 0
    assert backend.get(KEY).version == 2
    assert backend.get_blob(content(b"same")[0]) == b"same"
    # content a retained version references counts too (a revert to it)
    old_digest = content(b"same")[0]
    commit(backend, b"newer", history=((2, old_digest),))
    assert blob_inserts(commit(backend, b"same")) == 0
    assert backend.collect_garbage(time.time() + 1) == 1  # "newer" only: nothing references it
    assert backend.get_blob(old_digest) == b"same"



def test_once_contended_the_write_lock_is_retried_in_short_steps_and_times_out_typed(tmp_path) -> None:
    backend = SqliteBackend(f"sqlite:///{tmp_path}/state.db?busy_timeout=0.3")
    backend._lock.contended_for = 60.0  # a slow machine must not leave the mode between the steps
    holder = sqlite3.connect(f"{tmp_path}/state.db", isolation_level=None, check_same_thread=False)

    def held_for(seconds: float) -> threading.Timer:  # another process holds the write lock
        holder.execute("BEGIN IMMEDIATE")
        release = threading.Timer(seconds, holder.execute, ("COMMIT",))
        release.start()
        return release

    try:
        uncontended = commit(backend, b"first")
        assert uncontended.count("BEGIN IMMEDIATE") == 1
        assert not any(s.startswith("PRAGMA") for s in uncontended)  # no pragma when uncontended
        backend._local.contended_until = 0.0  # a preempted first BEGIN (loaded machine) counts
        release = held_for(0.05)
        assert commit(backend, b"waited").count("BEGIN IMMEDIATE") == 1  # SQLite's own wait
        release.join()
        assert backend._local.contended_until > time.monotonic()
        release = held_for(0.05)
        retried = commit(backend, b"retried")  # contended just now: retried in short steps
        release.join()
        assert retried.count("BEGIN IMMEDIATE") > 1
        assert backend.get(KEY).version == 3
        conn = backend._conn()
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 300  # restored
        assert not conn.in_transaction

        holder.execute("BEGIN IMMEDIATE")  # held past the busy timeout: typed, nothing applied
        with pytest.raises(BackendUnavailable, match="could not start a transaction"):
            commit(backend, b"never")
        backend._local.contended_until = 0.0  # and through SQLite's own wait
        with pytest.raises(BackendUnavailable, match="could not start a transaction"):
            commit(backend, b"never")
        holder.execute("ROLLBACK")
        assert backend.get(KEY).version == 3
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 300
        assert not conn.in_transaction
    finally:
        holder.close()
        backend.close()
