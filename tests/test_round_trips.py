"""Round trips per operation on the networked engines, counted on the wire by the proxy of
``benchmarks/roundtrips.py``. PostgreSQL: a commit (with or without sharers to invalidate) and a
CAS are two (reads and locks, then the writes with the events), a read after an invalidation three
(the registering transaction, then the content). Redis: one for a commit and a CAS, two for the
read miss: the engine commits speculatively against the records it last saw, in one conditional
apply (a Lua script), which falls back to a second round trip only if a record changed meanwhile.
A cache hit is none on both."""

from __future__ import annotations

import pytest

from conftest import load_benchmark, service_url

roundtrips = load_benchmark("roundtrips")

VARS = {"postgres": "CCS_TEST_POSTGRES_DSN", "redis": "CCS_TEST_REDIS_URL"}


@pytest.mark.parametrize("engine", ["postgres", "redis"])
def test_round_trips_per_operation(engine):
    counts = roundtrips.measure(engine, 20, service_url(VARS[engine]))
    commit = 1.05 if engine == "redis" else 2.05
    assert counts["owner_commit"] <= commit, counts  # the invalidation travels in the commit
    assert counts["owner_commit_no_sharer"] <= commit, counts
    assert counts["write_cas"] <= commit, counts
    assert counts["read_hit"] == 0, counts
    assert counts["read_miss"] <= commit + 1, counts
