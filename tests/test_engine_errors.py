"""No driver exception leaves an engine: a full Redis, a damaged or full SQLite file, a refusal by
the server are typed errors that say whether anything was applied."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess

import pytest
import redis

from ccs import CoherenceAdapterCore
from ccs.backends import open_backend
from ccs.protocol.errors import CorruptState, EngineError, OutcomeUnknown, StorageFull
from ccs.protocol.records import ArtifactRecord
from conformance.conftest import Store
from test_distributed_faults import PrivateRedis, wait_until

PAGE = 4096


class TinyRedis(PrivateRedis):
    """A private redis-server that refuses writes past 4 MB (``noeviction``)."""

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--maxmemory", "4mb", "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ready, 20, "private redis")


def big_record(key: str) -> dict:
    return {key: ArtifactRecord(key[2:], version=1, sharers={f"agent-{i}": 1 for i in range(4000)})}


def test_redis_at_maxmemory_is_storage_full_and_applies_nothing(tmp_path):
    server = TinyRedis(tmp_path)
    server.start()
    raw = redis.Redis(port=server.port)
    try:
        core = CoherenceAdapterCore(engine=server.url, bus="memory://")
        agent = core.agent("a")
        assert agent.write("doc", "v1") == 1
        n, size = 0, 256 * 1024
        while size >= 16:  # fill until even a few bytes are refused
            try:
                raw.set(f"filler-{n}", b"x" * size)
                n += 1
            except redis.exceptions.OutOfMemoryError:
                size //= 4
        backend = core.coordinator.backend
        for attempt in (lambda: agent.write("doc", "v2"),  # its content is refused
                        lambda: core.coordinator.acquire("b", "doc"),  # the engine's apply refused
                        lambda: backend.transact(["a/new"], lambda r: (big_record("a/new"), 0))):
            with pytest.raises(StorageFull) as err:
                attempt()
            e = err.value
            assert e.code == "storage_full" and not e.retryable and "nothing was applied" in e.recover
        rec = core.coordinator.artifact("doc")
        assert (rec.version, rec.owner.agent) == (1, agent.id) and core.coordinator.artifact("new") is None
        raw.delete(*(f"filler-{i}" for i in range(n)))
        assert agent.write("doc", "v2") == 2  # the refused attempt left nothing behind
        core.close()
    finally:
        raw.close()
        server.stop()


def damaged_store(tmp_path, damage) -> str:
    """A SQLite store of 60 artifacts whose file ``damage`` then spoils (pages 1-3, the header,
    the schema and ``ccs_meta``, are left intact unless it truncates them)."""
    path = tmp_path / "state.db"
    url = f"sqlite:///{path}"
    with CoherenceAdapterCore(engine=url) as core:
        for i in range(60):
            core.agent("a").write(f"doc-{i}", "x" * 1000 + str(i))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    damage(path)
    return url


def garbage(path) -> None:
    data = bytearray(path.read_bytes())
    data[3 * PAGE:] = (b"\xde\xad\xbe\xef" * len(data))[:len(data) - 3 * PAGE]
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [garbage, lambda p: os.truncate(p, 3 * PAGE),
                                    lambda p: os.truncate(p, 40 * PAGE)], ids=["garbage", "to-3", "to-40"])
def test_damaged_sqlite_file_is_corrupt_state_from_every_operation(tmp_path, damage):
    url = damaged_store(tmp_path, damage)
    try:
        backend = open_backend(url)
    except CorruptState:
        return  # refused at open: fine, nothing else can run
    ops = [lambda: backend.get("a/doc-1"), lambda: backend.keys("a/"), lambda: backend.get_blob("0" * 64),
           backend.blob_digests, lambda: backend.events_after(0), backend.last_event_seq,
           lambda: backend.transact(["a/doc-1"], lambda r: ({}, None)),
           lambda: backend.put_blob("1" * 64, b"x"), lambda: backend.append_events(["{}"])]
    for op in ops:
        with pytest.raises(CorruptState):
            op()
    with pytest.raises(CorruptState):
        CoherenceAdapterCore(engine=url).agent("b").read("doc-1")
    backend.close()


def test_full_sqlite_file_is_storage_full_and_applies_nothing(tmp_path):
    core = CoherenceAdapterCore(engine=f"sqlite:///{tmp_path}/state.db")
    agent = core.agent("a")
    agent.write("doc", "v1")
    backend = core.coordinator.backend
    conn = backend._conn()  # this thread's connection: cap the file at its current size
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(StorageFull) as err:
        agent.write("doc", os.urandom(64 * 1024))
    assert "nothing was applied" in err.value.recover and not err.value.retryable
    with pytest.raises(StorageFull):
        backend.transact(["a/new"], lambda r: (big_record("a/new"), None))
    assert core.coordinator.artifact("doc").version == 1 and backend.get("a/new") is None
    core.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "redis"])
def test_driver_error_from_a_damaged_store_is_typed(kind, tmp_path):
    """Tables dropped (SQLite, PostgreSQL) or a key of the wrong type (Redis): EngineError or
    CorruptState, never the driver's own exception."""
    store = Store(kind, tmp_path)
    try:
        backend = store.backend()
        backend.transact(["a/x"], lambda r: ({"a/x": ArtifactRecord("x", version=1)}, None))
        if kind == "sqlite":
            backend._conn().execute("DROP TABLE ccs_records")
        elif kind == "postgres":
            with backend._pool.connection() as conn:
                conn.execute(f'DROP TABLE "{backend.schema}".records')
        else:
            backend._r.delete(backend._rec + "a/x")
            backend._r.rpush(backend._rec + "a/x", "not a record")
        with pytest.raises((EngineError, CorruptState)) as err:
            backend.get("a/x")
        assert not err.value.retryable
        if kind == "redis":
            return  # MGET reads a key of another type as absent: a commit overwrites it
        with pytest.raises((EngineError, CorruptState)) as err:
            backend.transact(["a/x"], lambda r: ({"a/x": ArtifactRecord("x", version=2)}, None))
        assert not isinstance(err.value, OutcomeUnknown)
    finally:
        store.cleanup()


def test_postgres_refusing_a_commit_is_not_an_outcome_unknown(tmp_path):
    """A key over the b-tree's row limit (ids are checked before this; the engine itself is
    reached here directly): the server refused the transaction, so nothing was applied."""
    store = Store("postgres", tmp_path)
    try:
        backend = store.backend()
        rng = random.Random(7)  # incompressible: the index cannot squeeze it under the limit
        key = "a/" + "".join(chr(rng.randrange(0x10000, 0x10FFFF)) for _ in range(1024))
        with pytest.raises(EngineError) as err:
            backend.transact([key], lambda r: ({key: ArtifactRecord(key[2:], version=1)}, None))
        assert err.value.details["sqlstate"] == "54000" and "nothing was applied" in err.value.recover
        assert backend.keys("a/") == []
    finally:
        store.cleanup()

