"""PostgreSQL commits speculatively in one round trip (``ccs.backends.postgres_apply``), against
the real server (CCS_TEST_POSTGRES_DSN).

* in a steady state an owner commit and a cached CAS are one round trip, counted on the wire;
* a speculation on a record another connection changed misses, rolls back, and the commit lands
  on the real record; a write conditioned on the stale version is refused, nothing applied;
* a transaction with nothing to write writes nothing;
* a pooled connection the server closed while it was idle (a restart) is not speculated on: the
  commit is retried on a fresh connection, not reported as an unknown outcome;
* the functions (``ccs_expect_v1``, ``ccs_apply_v1``, ``ccs_lock_v1``) are created once when
  several processes open a new store at once, and a store an older release created gets the new
  ones when it is opened;
* concurrent CAS from threads and from processes loses no update: every increment got its own
  version, 1..N, and the counter ends at N.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid

import psycopg
import pytest

from ccs import CoherenceAdapterCore
from ccs.backends.postgres import PostgresBackend, parse_postgres_url
from ccs.backends.postgres_sql import APPLY_SIGNATURE, LOCK_SIGNATURE
from ccs.protocol.errors import VersionConflict
from ccs.protocol.records import ArtifactRecord
from conformance.conftest import drop_store, with_query
from conftest import load_benchmark, service_url

roundtrips = load_benchmark("roundtrips")


@pytest.fixture
def url():
    u = with_query(service_url("CCS_TEST_POSTGRES_DSN"), schema="spec_" + uuid.uuid4().hex[:10])
    yield u
    drop_store(u)


def bump(records):
    rec = records["a/x"]
    version = 1 if rec is None else rec.version + 1
    return {"a/x": ArtifactRecord("x", version=version)}, version


def write_at(base):
    """A write conditioned on the version its caller last saw (as a protocol transition is)."""
    def fn(records):
        rec = records["a/x"]
        if (0 if rec is None else rec.version) != base:
            raise VersionConflict(f"stale: based on {base}", artifact="x")
        return {"a/x": ArtifactRecord("x", version=base + 1)}, base + 1
    return fn


def test_steady_state_commit_and_cas_are_one_round_trip():
    counts = roundtrips.measure("postgres", 20, service_url("CCS_TEST_POSTGRES_DSN"))
    assert counts["owner_commit"] <= 1.05, counts
    assert counts["owner_commit_no_sharer"] <= 1.05, counts
    assert counts["write_cas"] <= 1.05, counts


def test_missed_speculation_commits_on_the_real_record_and_refuses_a_stale_write(url):
    mine, other = PostgresBackend(url), PostgresBackend(url)
    mine.speculator.contended_for = other.speculator.contended_for = 0.0  # even on a key that missed
    try:
        assert mine.transact(["a/x"], bump) == 1
        assert mine.transact(["a/x"], bump) == 2  # remembered: speculated, and right
        assert mine.speculator.counts == {"committed": 1, "missed": 0}
        assert other.transact(["a/x"], bump) == 3  # behind mine's back
        assert mine.transact(["a/x"], bump) == 4  # fn re-ran on the stored version 3
        assert mine.speculator.counts == {"committed": 1, "missed": 1}
        assert other.transact(["a/x"], bump) == 5
        with pytest.raises(VersionConflict):  # mine still remembers 4: the check says otherwise
            mine.transact(["a/x"], write_at(4))
        assert mine.get("a/x").version == 5 and other.get("a/x").version == 5
        # after a miss the connection is healthy: prepared statements still work, many times over
        for n in range(6, 20):
            assert other.transact(["a/x"], bump) == n if n % 2 else mine.transact(["a/x"], bump) == n
        assert mine.speculator.counts["missed"] >= 6
    finally:
        mine.close()
        other.close()


def test_a_key_that_missed_is_not_speculated_on_for_a_while(url):
    mine, other = PostgresBackend(url), PostgresBackend(url)
    mine.speculator.contended_for = 3600.0
    try:
        mine.transact(["a/x"], bump)
        other.transact(["a/x"], bump)
        assert mine.transact(["a/x"], bump) == 3 and mine.speculator.counts["missed"] == 1
        assert mine.transact(["a/x"], bump) == 4  # the locking path: no second miss
        assert mine.speculator.counts == {"committed": 0, "missed": 1}
        mine.transact(["a/y"], lambda r: ({"a/y": ArtifactRecord("y", version=1)}, None))
        mine.transact(["a/y"], lambda r: ({"a/y": ArtifactRecord("y", version=2)}, None))
        assert mine.speculator.counts == {"committed": 1, "missed": 1}  # other keys still speculate
    finally:
        mine.close()
        other.close()


def test_a_connection_the_server_closed_while_idle_is_not_speculated_on(url):
    backend = PostgresBackend(with_query(url, pool_min="1", pool_max="1"))
    try:
        backend.transact(["a/x"], bump)
        assert backend.transact(["a/x"], bump) == 2  # remembered: the next one would speculate
        with backend._pool.connection() as conn:
            pid = conn.info.backend_pid
        conninfo, _, _ = parse_postgres_url(url)
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            for _ in range(500):  # until the server has closed it (not a timing assertion)
                if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchall():
                    break
                time.sleep(0.01)
        time.sleep(0.05)  # the termination notice reaches the client's socket
        assert backend.transact(["a/x"], bump) == 3  # retried on a fresh connection: no OutcomeUnknown
        assert backend.speculator.counts["committed"] == 1
    finally:
        backend.close()


def test_a_transaction_with_nothing_to_write_writes_nothing(url):
    backend = PostgresBackend(url)
    try:
        backend.transact(["a/x"], bump)
        assert backend.transact(["a/x"], lambda records: ({}, records["a/x"].version)) == 1
        assert backend.speculator.counts == {"committed": 0, "missed": 0}  # not even speculated
        assert backend.get("a/x").version == 1
    finally:
        backend.close()


def _open_and_commit(url: str, start, out) -> None:
    try:
        start.wait(30)
        backend = PostgresBackend(url)
        backend.transact(["a/x"], bump)
        backend.transact(["a/x"], bump)
        out.put(("ok", backend.speculator.counts["committed"] + backend.speculator.counts["missed"]))
        backend.close()
    except Exception as exc:  # reported to the test, not lost in the child
        out.put(("error", repr(exc)))


def _in_processes(target, argsets, timeout: float) -> list:
    """``target(*args, start, out)`` in one spawned process per argument set, started together at
    a barrier; each puts one ``(kind, value)`` on ``out``. Returns them, all ``ok``."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(len(argsets)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, out)) for args in argsets]
    for p in procs:
        p.start()
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(30)
    assert all(kind == "ok" for kind, _ in results), results
    return results


def test_the_check_function_is_created_once_by_processes_opening_at_once(url):
    _in_processes(_open_and_commit, [(url,)] * 4, timeout=60)  # each opens a new store and commits
    conninfo, schema, _ = parse_postgres_url(url)
    with psycopg.connect(conninfo) as conn:
        found = conn.execute("SELECT p.proname, count(*) FROM pg_proc p JOIN pg_namespace n "
                             "ON n.oid = p.pronamespace WHERE n.nspname = %s GROUP BY p.proname",
                             (schema,)).fetchall()
    assert dict(found) == {"ccs_expect_v1": 1, "ccs_apply_v1": 1, "ccs_lock_v1": 1}
    backend = PostgresBackend(url)
    try:
        assert backend.get("a/x").version == 8  # 4 processes, 2 commits each
    finally:
        backend.close()


def test_a_store_without_the_new_functions_gets_them_when_opened(url):
    """A store an older release created has ``ccs_expect_v1`` only: opening it creates
    ``ccs_apply_v1`` and ``ccs_lock_v1``, and commits (speculative and locking) work on it."""
    first = PostgresBackend(url)
    try:
        assert first.transact(["a/x"], bump) == 1
    finally:
        first.close()
    conninfo, schema, _ = parse_postgres_url(url)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP FUNCTION "{schema}".{APPLY_SIGNATURE}')
        conn.execute(f'DROP FUNCTION "{schema}".{LOCK_SIGNATURE}')
    backend = PostgresBackend(url)
    try:
        assert [backend.transact(["a/x"], bump) for _ in range(3)] == [2, 3, 4]
        assert backend.speculator.counts == {"committed": 2, "missed": 0}
    finally:
        backend.close()


def _cas_worker(url: str, name: str, n: int, start, out) -> None:
    try:
        with CoherenceAdapterCore(engine=url, bus="memory://") as core:
            agent = core.agent(name)
            start.wait(30)
            versions = [agent.write_cas("counter", lambda v: (v or 0) + 1, retries=10_000, backoff=0.0005)
                        for _ in range(n)]
            out.put(("ok", versions))
    except Exception as exc:
        out.put(("error", repr(exc)))


def _check_history(per_worker: list[list[int]], url: str, total: int) -> None:
    """Each increment got a version of its own (no two CAS based on one value): together they
    are exactly 2..total+1 (version 1 is the initial 0), and the stored value is ``total``."""
    versions = sorted(v for vs in per_worker for v in vs)
    assert versions == list(range(2, total + 2)), versions
    for vs in per_worker:  # each worker saw its own increments in order
        assert vs == sorted(vs)
    with CoherenceAdapterCore(engine=url, bus="memory://") as core:
        assert core.agent("checker").read("counter") == total


def test_concurrent_cas_from_processes_loses_no_update(url):
    with CoherenceAdapterCore(engine=url, bus="memory://") as core:
        core.agent("setup").write("counter", 0)
    results = _in_processes(_cas_worker, [(url, f"p{i}", 15) for i in range(3)], timeout=120)
    _check_history([vs for _, vs in results], url, 45)


def test_concurrent_cas_from_threads_loses_no_update(url):
    with CoherenceAdapterCore(engine=url, bus="memory://") as core:
        core.agent("setup").write("counter", 0)
        results: dict[str, list[int]] = {}
        errors: list[BaseException] = []

        def run(name: str) -> None:
            try:
                agent = core.agent(name)
                results[name] = [agent.write_cas("counter", lambda v: (v or 0) + 1, retries=10_000,
                                                 backoff=0.0005) for _ in range(15)]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(f"t{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert core.coordinator.backend.speculator.counts["committed"] > 0
    _check_history(list(results.values()), url, 60)


def test_keys_any_text_can_hold_are_speculated_on_and_a_foreign_body_misses(url):
    """The check's arrays travel as array text (``array_literal``), quoted by the engine: keys
    with quotes, backslashes, commas, braces, spaces or ``NULL`` reach ``ccs_expect_v1`` as they
    are. A body changed behind the engine's back fails the check even though the codec keeps
    each body's digest: the commit is decided again on the stored record."""
    odd = ['a/q"u\\o,{x} NULL', "a/é\U0010ffff it's", "a/NULL", "a/"]
    backend = PostgresBackend(url)
    try:
        def bump_all(records):
            return {k: ArtifactRecord(k[2:], version=(r.version if r else 0) + 1)
                    for k, r in records.items()}, None
        backend.transact(odd, bump_all)
        backend.transact(odd, bump_all)
        assert backend.speculator.counts == {"committed": 1, "missed": 0}
        assert [backend.get(k).version for k in odd] == [2, 2, 2, 2]
        schema = parse_postgres_url(url)[1]
        with psycopg.connect(parse_postgres_url(url)[0], autocommit=True) as conn:
            conn.execute(f'UPDATE "{schema}".records SET body = replace(body, \'"version":2\', '
                         '\'"version":7\') WHERE key = %s', (odd[0],))
        backend.transact(odd, bump_all)
        assert backend.speculator.counts == {"committed": 1, "missed": 1}
        assert [backend.get(k).version for k in odd] == [8, 3, 3, 3]
    finally:
        backend.close()
