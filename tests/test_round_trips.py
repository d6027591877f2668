"""Round trips per operation on the networked engines, counted on the wire by the proxy of
``benchmarks/roundtrips.py``: a commit (with or without sharers to invalidate) and a CAS are one on
both engines (a speculation on the records the engine remembers: the check, the writes and the
events in one request; Redis: a Lua conditional apply, PostgreSQL: one pipelined flush), a cache
hit none, a read after an invalidation at most two (the registering transaction, then the
content). A speculation that finds a record changed costs one more."""

from __future__ import annotations

import pytest

from conftest import load_benchmark, service_url

roundtrips = load_benchmark("roundtrips")

VARS = {"postgres": "CCS_TEST_POSTGRES_DSN", "redis": "CCS_TEST_REDIS_URL"}


@pytest.mark.parametrize("engine", ["postgres", "redis"])
def test_round_trips_per_operation(engine):
    counts = roundtrips.measure(engine, 20, service_url(VARS[engine]))
    commit = 1.05  # both engines commit speculatively in one round trip
    assert counts["owner_commit"] <= commit, counts  # the invalidation travels in the commit
    assert counts["owner_commit_no_sharer"] <= commit, counts
    assert counts["write_cas"] <= commit, counts
    assert counts["read_hit"] == 0, counts
    assert counts["read_miss"] <= commit + 1, counts
