"""The engine contract of ``ccs.backends.base.Backend``, checked against every engine."""

from __future__ import annotations

import threading
import time

import pytest

from ccs.protocol.errors import StaleView
from ccs.protocol.records import AgentRecord

THREADS = 4
ROUNDS = 25


def counter(rec: AgentRecord | None, key: str, step: int = 1) -> AgentRecord:
    """A record used as a counter: ``expires_at`` holds the count."""
    return AgentRecord(key, (0 if rec is None else rec.expires_at) + step, 1.0)


def test_transact_reads_missing_as_none_and_stores_changes(store):
    b = store.backend()
    seen = b.transact(["g/x", "g/y"], lambda r: ({"g/x": counter(r["g/x"], "x")}, dict(r)))
    assert seen == {"g/x": None, "g/y": None}
    assert b.get("g/x").expires_at == 1 and b.get("g/y") is None
    b.transact(["g/x"], lambda r: ({"g/x": None}, None))
    assert b.get("g/x") is None and b.keys("g/") == []


def test_refused_transaction_applies_nothing(store):
    b = store.backend()
    b.transact(["g/x"], lambda r: ({"g/x": counter(None, "x")}, None))

    def refuse(r):
        r["g/x"] = counter(r["g/x"], "x", 100)  # even a mutated input must not leak out
        raise StaleView("refused", artifact="x")

    with pytest.raises(StaleView):
        b.transact(["g/x", "g/new"], refuse)
    assert b.get("g/x").expires_at == 1 and b.get("g/new") is None


def test_transactions_creating_one_new_key_serialize(store):
    """Every thread increments a key that does not exist yet, plus a private key: none is lost."""
    backends = [store.backend() for _ in range(THREADS)]
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            start.wait(30)
            for _ in range(ROUNDS):
                backends[i].transact(["g/shared", f"g/own{i}"], lambda r, i=i: ({
                    "g/shared": counter(r["g/shared"], "shared"),
                    f"g/own{i}": counter(r[f"g/own{i}"], f"own{i}"),
                }, None))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    b = store.backend()
    assert b.get("g/shared").expires_at == THREADS * ROUNDS
    assert [b.get(f"g/own{i}").expires_at for i in range(THREADS)] == [ROUNDS] * THREADS


def test_multi_key_transactions_are_atomic(store):
    """Transfers between two keys under contention keep the total: no torn transaction."""
    b = store.backend()
    b.transact(["g/a", "g/b"], lambda r: ({"g/a": counter(None, "a", 100), "g/b": counter(None, "b", 100)},
                                          None))
    start = threading.Barrier(THREADS)
    totals: list[float] = []

    def worker(i: int) -> None:
        mine = store.backend()
        start.wait(30)
        for n in range(ROUNDS):
            src, dst = ("g/a", "g/b") if (n + i) % 2 else ("g/b", "g/a")
            mine.transact([src, dst], lambda r, s=src, d=dst: (
                {s: counter(r[s], s[2:], -1), d: counter(r[d], d[2:], 1)}, None))
            totals.append(mine.transact(["g/a", "g/b"], lambda r: (
                {}, r["g/a"].expires_at + r["g/b"].expires_at)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(totals) == THREADS * ROUNDS and set(totals) == {200}


def test_keys_by_prefix(store):
    b = store.backend()
    artifacts = ["a/plan", "a/plan.md", "a/planner/x", "a/other", "a/\u00e9t\u00e9"]
    for key in [*artifacts, "g/agent"]:
        b.transact([key], lambda r, key=key: ({key: counter(None, key)}, None))
    assert sorted(b.keys("a/plan")) == ["a/plan", "a/plan.md", "a/planner/x"]
    assert sorted(b.keys("a/")) == sorted(artifacts)
    assert b.keys("g/") == ["g/agent"] and b.keys("a/none") == []


def test_blobs_by_digest_and_age(store):
    b = store.backend()
    b.put_blob("d1", b"one")
    b.put_blob("d1", b"one")  # idempotent
    b.put_blob("d2", bytes(range(256)) * 100)
    assert b.get_blob("d1") == b"one" and b.get_blob("d2") == bytes(range(256)) * 100
    assert b.get_blob("missing") is None
    assert b.blob_digests() == {"d1", "d2"}
    assert b.blob_digests(stored_before=time.time() - 3600) == set()
    assert b.blob_digests(stored_before=time.time() + 1) == {"d1", "d2"}
    assert b.delete_blobs(["d1", "missing"]) == 1 and b.delete_blobs([]) == 0
    assert b.blob_digests() == {"d2"} and b.get_blob("d1") is None


def test_gc_keeps_referenced_content(store):
    coord = store.coordinator()
    coord.write("a", "doc", 0, None, (b"v1", "bytes"))
    coord.write("a", "doc", 1, None, (b"v2", "bytes"))
    coord.backend.put_blob("orphan", b"never referenced")
    assert coord.gc(min_age=-1) == 1
    assert coord.content_at("doc") == b"v2" and coord.content_at("doc", 1) == b"v1"
