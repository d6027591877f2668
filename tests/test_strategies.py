"""Cache strategies through the agent API: which reads are hits, when a copy is revalidated, what
content moves, and that no strategy ever lets a write derived from a stale copy land."""

import json

import pytest

from ccs import CoherenceAdapterCore, Coordinator, ManualClock, Mesi, StaleView
from ccs.backends.memory import MemoryBackend
from ccs.client.strategies import Strategy, make_strategy
from ccs.protocol.errors import InvalidStrategyParameter, UnknownStrategy

V1, V2 = "version one", "version two!"


def make(clock, strategy="lazy", **params):
    return CoherenceAdapterCore(engine="memory://", strategy=strategy, clock=clock, **params)


def stats(agent):
    s = agent.stats
    return {"hits": s.hits, "misses": s.misses, "not_modified": s.not_modified,
            "bytes": s.bytes_fetched}


@pytest.fixture
def clock():
    return ManualClock()


def test_lazy_serves_the_copy_until_an_invalidation_and_never_expires_it(clock):
    core = make(clock)
    w, r = core.agent("w"), core.agent("r")
    w.write("x", V1)
    assert r.read("x") == V1
    for _ in range(3):
        clock.advance(10_000)
        assert r.read("x") == V1
    assert stats(r) == {"hits": 3, "misses": 1, "not_modified": 0, "bytes": len(V1)}
    w.write("x", V2)
    assert r.stats.invalidations == 1 and r.state("x") is Mesi.INVALID
    assert stats(r)["bytes"] == len(V1)  # lazy: nothing moves until the next read
    assert r.read("x") == V2
    assert stats(r) == {"hits": 3, "misses": 2, "not_modified": 0, "bytes": len(V1) + len(V2)}
    assert w.read("x") == V2 and w.stats.hits == 1 and w.stats.bytes_fetched == 0  # own write cached


def test_lease_revalidates_once_the_copy_is_ttl_old_without_moving_unchanged_content(clock):
    core = make(clock, "lease", ttl=10)
    w, r = core.agent("w"), core.agent("r")
    w.write("x", V1)
    assert r.read("x") == V1
    clock.advance(9.5)
    assert r.read("x") == V1
    assert stats(r) == {"hits": 1, "misses": 1, "not_modified": 0, "bytes": len(V1)}
    clock.advance(0.5)  # the copy is now ttl old: ask the store, which answers "not modified"
    assert r.read("x") == V1
    assert stats(r) == {"hits": 1, "misses": 1, "not_modified": 1, "bytes": len(V1)}
    clock.advance(5)  # the revalidation restarted the lease
    assert r.read("x") == V1 and r.stats.hits == 2


def test_lease_bounds_staleness_when_invalidations_are_lost(clock):
    backend = MemoryBackend()  # two coordinators, two buses: invalidations never cross
    reader_core = CoherenceAdapterCore(coordinator=Coordinator(backend, clock=clock),
                                       strategy="lease", ttl=10)
    writer_core = CoherenceAdapterCore(coordinator=Coordinator(backend, clock=clock))
    r, w = reader_core.agent("r"), writer_core.agent("w")
    w.write("x", V1)
    assert r.read("x") == V1
    w.write("x", V2)
    clock.advance(9)
    assert r.read("x") == V1  # within the lease: stale, bounded
    clock.advance(1)
    assert r.read("x") == V2 and r.stats.misses == 2


def test_access_count_revalidates_after_max_reads_hits(clock):
    core = make(clock, "access_count", max_reads=3)
    w, r = core.agent("w"), core.agent("r")
    w.write("x", V1)
    results = [r.read("x") for _ in range(8)]
    assert results == [V1] * 8
    # read 1 misses, reads 2-4 hit, read 5 revalidates (not modified), reads 6-8 hit
    assert stats(r) == {"hits": 6, "misses": 1, "not_modified": 1, "bytes": len(V1)}
    w.write("x", V2)
    assert r.read("x") == V2 and stats(r)["bytes"] == len(V1) + len(V2)


def test_eager_refetches_on_invalidation_so_the_next_read_is_a_hit(clock):
    core = make(clock, "eager")
    w, r = core.agent("w"), core.agent("r")
    w.write("x", V1)
    assert r.read("x") == V1
    w.write("x", V2)
    assert stats(r) == {"hits": 0, "misses": 2, "not_modified": 0, "bytes": len(V1) + len(V2)}
    assert r.read("x") == V2
    assert r.stats.hits == 1 and r.stats.bytes_fetched == len(V1) + len(V2)


def test_broadcast_never_caches_every_read_moves_the_full_content(clock):
    core = make(clock, "broadcast")
    w, r = core.agent("w"), core.agent("r")
    w.write("x", V1)
    assert [r.read("x") for _ in range(3)] == [V1] * 3
    assert stats(r) == {"hits": 0, "misses": 3, "not_modified": 0, "bytes": 3 * len(V1)}
    assert w.read("x") == V1 and w.stats.hits == 0 and w.stats.bytes_fetched == len(V1)


def test_unknown_strategy_is_a_typed_error():
    with pytest.raises(UnknownStrategy) as e:
        CoherenceAdapterCore(engine="memory://", strategy="lru")
    err = e.value
    assert err.code == "unknown_strategy" and err.details == {"strategy": "lru"}
    assert "lazy" in str(err) and err.recover
    assert json.loads(err.to_json())["code"] == "unknown_strategy"


@pytest.mark.parametrize("name, params", [
    ("lazy", {"ttl": 5}),
    ("eager", {"max_reads": 2}),
    ("broadcast", {"ttl": 1}),
    ("lease", {"max_reads": 2}),
    ("lease", {"tll": 5}),
    ("access_count", {"ttl": 1}),
    ("lease", {"ttl": 0}),
    ("lease", {"ttl": -1}),
    ("lease", {"ttl": "5"}),
    ("lease", {"ttl": True}),
    ("access_count", {"max_reads": 0}),
    ("access_count", {"max_reads": 1.5}),
    ("access_count", {"max_reads": True}),
])
def test_a_parameter_that_does_not_apply_or_is_invalid_is_refused(name, params):
    with pytest.raises(InvalidStrategyParameter) as e:
        CoherenceAdapterCore(engine="memory://", strategy=name, **params)
    assert e.value.code == "invalid_strategy_parameter" and e.value.recover
    with pytest.raises(InvalidStrategyParameter):
        make_strategy(make_strategy("lazy"), **params)  # never silently dropped either


def test_default_and_documented_parameters_build():
    assert make_strategy() == Strategy("lazy")
    assert make_strategy("lease", ttl=2).ttl == 2.0
    assert make_strategy("access_count", max_reads=1).max_reads == 1
    assert not make_strategy("broadcast").caches and make_strategy("eager").refetch_on_invalidate


@pytest.mark.parametrize("name, params", [
    ("lazy", {}), ("eager", {}), ("lease", {"ttl": 60}), ("access_count", {"max_reads": 100}),
    ("broadcast", {}),
])
def test_no_strategy_makes_a_stale_write_land(clock, name, params):
    backend = MemoryBackend()  # separate buses: the stale reader never hears of the peer's commit
    a_core = CoherenceAdapterCore(coordinator=Coordinator(backend, clock=clock), strategy=name, **params)
    b_core = CoherenceAdapterCore(coordinator=Coordinator(backend, clock=clock))
    a, b = a_core.agent("a"), b_core.agent("b")
    b.write("x", "0")
    assert a.read("x") == "0"
    b.write("x", "1")
    served = a.read("x")
    landed_before = b_core.coordinator.artifact("x").version
    try:
        a.write("x", served + "+a")
    except StaleView as exc:
        assert served == "0" and exc.current_version == landed_before
        assert b_core.coordinator.content_at("x") == b"1"  # the peer's commit survived
    else:
        assert served == "1", f"{name} served a stale copy and the write derived from it landed"
        assert b_core.coordinator.content_at("x") == b"1+a"
    assert a.write_cas("x", lambda old: old + "+cas") > landed_before
    final = b_core.coordinator.content_at("x").decode()
    assert final.startswith("1") and final.endswith("+cas")  # derived from the latest version
    assert b.read("x") == "1"  # b's lazy copy is stale (its bus never heard) ...
    with pytest.raises(StaleView):
        b.write("x", "derived from an old copy")  # ... and a write derived from it is refused


@pytest.mark.parametrize("strategy", ["lazy", "eager", "lease", "access_count", "broadcast"])
def test_write_derived_from_an_older_read_is_refused_under_every_strategy(strategy):
    """Invalidations arrive here (one process, one bus): eager even prefetches the new version.
    The write's base must still be the version the agent read, never the prefetched one."""
    core = CoherenceAdapterCore("memory://", strategy)
    a, b = core.agent("a"), core.agent("b")
    a.write("x", "v1")
    seen = b.read("x")
    a.write("x", "v1+a")
    with pytest.raises(StaleView) as err:
        b.write("x", seen + "+b")
    assert err.value.current_version == 2
    assert b.read("x") == "v1+a"
    assert b.write("x", "v1+a+b") == 3
    core.close()
