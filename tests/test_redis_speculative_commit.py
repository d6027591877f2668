"""The Redis engine's speculative commit, on a real Redis (CCS_TEST_REDIS_URL).

A transaction whose records this process saw last is decided locally and sent as one conditional
apply (a Lua script that writes only if every key still holds that body): one round trip. If a
key changed meanwhile, nothing is written, the script returns what is stored, and the engine
decides again on that; a refusal or a read-only outcome reached on a belief is checked against the
server before it is reported.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
import uuid

import pytest

from ccs import failpoints
from ccs.backends.redis import RedisBackend
from ccs.protocol.errors import CorruptState
from conformance.conftest import drop_store, with_query
from conftest import load_benchmark, service_url
from counter_txn import KEY, counter, increment, refusal_is_confirmed_on_the_store, value

roundtrips = load_benchmark("roundtrips")


@pytest.fixture
def url():
    u = with_query(service_url("CCS_TEST_REDIS_URL"), prefix=f"spec{uuid.uuid4().hex[:10]}")
    yield u
    drop_store(u)


def stored(url: str) -> int:
    with RedisBackend(url) as b:
        return value(b.get(KEY))


def test_a_commit_on_records_seen_last_is_one_round_trip(url):
    proxied, proxy = roundtrips.via_proxy(url)
    try:
        with RedisBackend(proxied) as backend:
            backend.transact([KEY], increment)
            before = proxy.turns
            for _ in range(10):
                backend.transact([KEY], increment)
            assert proxy.turns - before == 10
            before = proxy.turns
            assert backend.transact([KEY], lambda r: ({}, value(r[KEY]))) == 11  # read-only: checked
            assert proxy.turns - before == 1
            absent = "g/never-written"  # remembered absent once read: a create is one round trip too
            assert backend.transact([absent], lambda r: ({}, r[absent])) is None
            before = proxy.turns
            backend.transact([absent], lambda r: ({absent: counter(1)}, None))
            assert proxy.turns - before == 1
    finally:
        proxy.close()
    assert stored(url) == 11


def test_a_stale_belief_commits_on_the_real_record_and_refuses_a_stale_write(url):
    proxied, proxy = roundtrips.via_proxy(url)
    try:
        with RedisBackend(proxied) as mine, RedisBackend(url) as peer:
            mine.transact([KEY], increment)  # mine believes 1
            peer.transact([KEY], increment)  # the store holds 2
            before = proxy.turns
            assert mine.transact([KEY], increment) == 3  # decided again on 2: nothing lost
            assert proxy.turns - before == 2
            refusal_is_confirmed_on_the_store(mine, peer, lambda: stored(url))  # 4, then 6
            peer.transact([KEY], increment)  # 7; a read-only outcome is checked, not assumed
            assert mine.transact([KEY], lambda r: ({}, value(r[KEY]))) == 7
    finally:
        proxy.close()


def test_a_script_lost_by_the_server_is_loaded_again(url):
    with RedisBackend(url) as backend:
        backend.transact([KEY], increment)
        backend._r.script_flush()  # what a restart or SCRIPT FLUSH does
        assert backend.transact([KEY], increment) == 2
        assert backend.transact([KEY], increment) == 3
    assert stored(url) == 3


def test_a_no_change_transaction_writes_nothing(url):
    with RedisBackend(url) as backend:
        backend.transact([KEY], increment)
        with backend._r.pipeline(transaction=True) as watcher:
            watcher.watch(backend._rec + KEY)  # any write of the key, even of the same body, aborts it
            with failpoints.arm("backend.before_write", _no_write):
                assert backend.transact([KEY], lambda r: ({}, "nothing")) == "nothing"
            watcher.multi()
            watcher.get(backend._rec + KEY)
            assert watcher.execute()  # not aborted: the key was not written


def _no_write(**_) -> None:
    raise AssertionError("a transaction without changes reached the write")


def _hammer(url: str, n: int, out) -> None:
    with RedisBackend(url) as backend:
        out.put([backend.transact([KEY], increment) for _ in range(n)])


def test_concurrent_increments_from_threads_and_processes_lose_no_update(url):
    threads, procs, n = 4, 3, 60
    results: list[int] = []
    lock = threading.Lock()
    with RedisBackend(url) as shared:
        def worker() -> None:
            got = [shared.transact([KEY], increment) for _ in range(n)]
            with lock:
                results.extend(got)

        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        workers = [ctx.Process(target=_hammer, args=(url, n, out)) for _ in range(procs)]
        for p in workers:
            p.start()
        pool = [threading.Thread(target=worker) for _ in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join(120)
        for _ in workers:
            results.extend(out.get(timeout=120))
        for p in workers:
            p.join(60)
    total = (threads + procs) * n
    # every increment saw the value the one before it produced: each result exactly once
    assert sorted(results) == list(range(1, total + 1))
    assert stored(url) == total


def test_a_transaction_over_more_keys_than_one_read_of_the_script(url):
    keys = [f"g/k{i}" for i in range(1200)]  # the script reads its keys 500 at a time

    def bump(records):
        return {k: counter(value(r) + 1) for k, r in records.items()}, None

    with RedisBackend(url) as mine, RedisBackend(url) as peer:
        mine.transact(keys, bump)  # all absent: read first, then created
        mine.transact(keys, bump)  # on the belief
        peer.transact([keys[1100]], lambda r: ({keys[1100]: counter(10)}, None))
        mine.transact(keys, bump)  # the belief misses on one key past the first 500
        assert [value(peer.get(k)) for k in (keys[0], keys[700], keys[1100])] == [3, 3, 11]


def test_a_script_that_fails_after_writing_reports_corrupt_state(url):
    with RedisBackend(url) as backend:
        backend.transact([KEY], increment)
        backend._r.delete(backend._idx)
        backend._r.set(backend._idx, "not a sorted set")  # someone else wrote inside the prefix
        with pytest.raises(CorruptState, match="applied in part"):  # SET landed, ZADD refused
            backend.transact(["g/new"], lambda r: ({"g/new": counter(1)}, None))


def test_a_remembered_digest_never_hides_a_foreign_or_damaged_body(url):
    """The codec keeps each body's SHA-1 beside it, so a record that did not change is not hashed
    on every commit; a body written behind the engine's back (same record, other bytes) must
    still fail the script's check: the commit is decided again on what is stored."""
    proxied, proxy = roundtrips.via_proxy(url)
    try:
        with RedisBackend(proxied) as mine, RedisBackend(url) as peer:
            mine.transact([KEY], increment)
            for _ in range(2):  # read-only, checked by the script: the digest is remembered
                assert mine.transact([KEY], lambda r: ({}, value(r[KEY]))) == 1
            body = peer._r.get(peer._rec + KEY)
            assert mine._codec.digest_of(KEY, body) == hashlib.sha1(body).hexdigest()
            foreign = body.replace(b'"expires_at":1.0', b'"expires_at":41.0')
            assert foreign != body
            peer._r.set(peer._rec + KEY, foreign)
            before = proxy.turns
            assert mine.transact([KEY], increment) == 42  # missed, decided on the stored 41
            assert proxy.turns - before == 2
            assert mine._codec.digest_of(KEY, foreign) == hashlib.sha1(foreign).hexdigest()
            peer._r.set(peer._rec + KEY, b"{damaged")
            with pytest.raises(CorruptState):
                mine.transact([KEY], increment)
    finally:
        proxy.close()
    with RedisBackend(url) as b:
        assert b._r.get(b._rec + KEY) == b"{damaged"  # nothing was written over it
