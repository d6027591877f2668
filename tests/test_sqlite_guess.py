"""The SQLite engine's commit on remembered records (``ccs/backends/sqlite_apply.py``).

A transaction whose records this process saw last is decided before the write lock and written
by one conditional ``UPDATE`` that checks every key it read: no ``SELECT`` under the lock. If any
key changed meanwhile (another process, a direct SQL write, a delete, damage), nothing is written
and the same transaction decides again on what is stored; a refusal reached on a remembered
record is checked against the stored one before it is reported.
"""

from __future__ import annotations

import multiprocessing
import sqlite3

import pytest

from ccs import failpoints
from ccs.backends.sqlite import SqliteBackend
from ccs.protocol.errors import CorruptState
from counter_txn import KEY, counter, increment, refusal_is_confirmed_on_the_store, value

OTHER = "g/other"


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path}/state.db"


def traced(backend: SqliteBackend, fn) -> tuple[object, list[str]]:
    seen: list[str] = []
    conn = backend._conn()
    conn.set_trace_callback(seen.append)
    try:
        return fn(), [s for s in seen if not s.startswith("PRAGMA busy_timeout")]
    finally:
        conn.set_trace_callback(None)


def stored(url: str) -> int:
    with SqliteBackend(url) as b:
        return value(b.get(KEY))


def test_a_commit_on_records_seen_last_reads_nothing_under_the_lock(url):
    with SqliteBackend(url) as backend:
        backend.transact([KEY], increment)  # first: nothing remembered, the locking path
        for _ in range(5):
            result, seen = traced(backend, lambda: backend.transact([KEY], increment))
            assert seen[0] == "BEGIN IMMEDIATE" and seen[1].startswith("UPDATE ccs_records")
            assert seen[-1] == "COMMIT" and not any(s.startswith("SELECT") for s in seen)
        assert result == 6 and backend._guesser.counts == {"committed": 5, "missed": 0}
        # a read-only outcome is not guessed: it is read under the lock as before
        assert backend.transact([KEY], lambda r: ({}, value(r[KEY]))) == 6
    assert stored(url) == 6


def test_a_record_changed_elsewhere_commits_on_the_stored_one(url, tmp_path):
    with SqliteBackend(url) as mine, SqliteBackend(url) as peer:
        mine._guesser.contended_for = 0.0  # guess again at once after a miss (normally 1 s later)
        mine.transact([KEY], increment)  # mine remembers 1
        peer.transact([KEY], increment)  # the store holds 2
        assert mine.transact([KEY], increment) == 3  # decided again on 2: nothing lost
        assert mine._guesser.counts["missed"] == 1
        refusal_is_confirmed_on_the_store(mine, peer, lambda: stored(url))  # 4, then 6


def test_every_key_read_is_checked_not_only_the_one_written(url):
    def copy_other(records):  # writes KEY from OTHER's value: OTHER is read, not written
        n = value(records[OTHER])
        return {KEY: counter(n)}, n

    with SqliteBackend(url) as mine, SqliteBackend(url) as peer:
        mine._guesser.contended_for = 0.0
        mine.transact([OTHER], lambda r: ({OTHER: counter(7, "other")}, None))
        assert mine.transact([KEY, OTHER], copy_other) == 7
        peer.transact([OTHER], lambda r: ({OTHER: counter(9, "other")}, None))
        assert mine.transact([KEY, OTHER], copy_other) == 9  # not 7: the check saw OTHER move
        peer.transact([OTHER], lambda r: ({OTHER: None}, None))  # deleted elsewhere
        assert mine.transact([KEY, OTHER], copy_other) == 0
        assert mine._guesser.counts["missed"] == 2
    assert stored(url) == 0


def test_a_direct_sql_write_or_damage_is_seen(url, tmp_path):
    with SqliteBackend(url) as backend:
        backend.transact([KEY], increment)
        backend._guesser.contended_for = 0.0
        conn = sqlite3.connect(tmp_path / "state.db")
        body = conn.execute("SELECT body FROM ccs_records WHERE key=?", (KEY,)).fetchone()[0]
        conn.execute("UPDATE ccs_records SET body=? WHERE key=?", (body.replace("1.0", "41.0", 1), KEY))
        conn.commit()
        assert backend.transact([KEY], increment) == 42
        conn.execute("UPDATE ccs_records SET body='{not json' WHERE key=?", (KEY,))
        conn.commit()
        conn.close()
        with pytest.raises(CorruptState):
            backend.transact([KEY], increment)


def test_a_failure_before_the_write_applies_nothing(url):
    with SqliteBackend(url) as backend:
        backend.transact([KEY], increment)

        def fail(**_):
            raise OSError("injected")

        with failpoints.arm("backend.before_write", fail), pytest.raises(OSError):
            backend.transact([KEY], increment)
        assert backend.transact([KEY], increment) == 2  # the failed one left nothing behind
    assert stored(url) == 2


def _hammer(url: str, n: int, out) -> None:
    with SqliteBackend(url) as backend:
        out.put([backend.transact([KEY], increment) for _ in range(n)])


def test_processes_incrementing_one_record_lose_nothing(url):
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(url, 60, out)) for _ in range(3)]
    for p in procs:
        p.start()
    seen = sorted(v for _ in procs for v in out.get(timeout=120))
    for p in procs:
        p.join(30)
    assert seen == list(range(1, 181)) and stored(url) == 180
