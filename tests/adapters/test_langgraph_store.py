"""CCSStore as a BaseStore: values, namespaces, batches, TTL, vectors, engines, inner stores, logs."""

from __future__ import annotations

import asyncio
import json

import pytest
from langgraph.store.base import GetOp, InvalidNamespaceError, ListNamespacesOp, MatchCondition, PutOp
from langgraph.store.memory import InMemoryStore
from langgraph.store.sqlite import SqliteStore

from ccs import ManualClock, StaleView
from ccs.adapters import CCSStore
from ccs.adapters.langgraph import read_log
from ccs.adapters.langgraph.ids import IdCodec
from ccs.protocol.errors import InvalidValue


def letters(texts: list[str]) -> list[list[float]]:
    """A deterministic offline embedder: letter counts."""
    out = []
    for t in texts:
        v = [0.0] * 26
        for ch in t.lower():
            if "a" <= ch <= "z":
                v[ord(ch) - 97] += 1.0
        out.append(v)
    return out


# --- ids ---------------------------------------------------------------------------------------

def test_ids_are_unambiguous_and_prefix_preserving():
    codec = IdCodec()
    a = codec.encode(("a:b",), "c")
    b = codec.encode(("a",), "b:c")
    c = codec.encode(("a", "b"), "c")
    assert len({a, b, c}) == 3
    for ns, key in [(("a:b",), "c"), (("a",), "b:c"), (("a", "b"), "c"), (("ü", 'q"'), "[k]")]:
        aid = codec.encode(ns, key)
        assert codec.decode(aid) == (ns, key)
    assert c.startswith(codec.namespace_prefix(("a",)))
    assert not b.startswith(codec.namespace_prefix(("a", "b")))
    assert codec.decode("other/[\"x\",\"y\"]") is None


# --- values and namespaces -------------------------------------------------------------------------

def test_values_are_copied_in_and_out():
    store = CCSStore()
    value = {"tags": ["a"], "nested": {"x": 1}}
    store.put(("docs",), "d", value)
    value["tags"].append("mutated-after-put")
    got = store.get(("docs",), "d")
    assert got.value == {"tags": ["a"], "nested": {"x": 1}}
    got.value["nested"]["x"] = 2
    store.search(("docs",))[0].value["tags"].clear()
    assert store.get(("docs",), "d").value == {"tags": ["a"], "nested": {"x": 1}}


def test_one_element_namespaces_and_validation():
    store = CCSStore()
    store.put(("solo",), "k", {"v": 1})
    assert store.get(("solo",), "k").value == {"v": 1}
    assert store.get(("solo",), "k").namespace == ("solo",)
    assert [i.key for i in store.search(("solo",))] == ["k"]
    with pytest.raises(InvalidNamespaceError):
        store.put((), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.put(("a.b",), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        store.put(("langgraph",), "k", {"v": 1})
    with pytest.raises(InvalidValue):
        store.put(("solo",), "bad", {"v": object()})


def test_created_at_is_kept_on_overwrite_and_reset_after_delete():
    clock = ManualClock()
    store = CCSStore(clock=clock)
    store.put(("n",), "k", {"v": 1})
    first = store.get(("n",), "k")
    clock.advance(10)
    store.put(("n",), "k", {"v": 2})
    second = store.get(("n",), "k")
    assert second.created_at == first.created_at
    assert (second.updated_at - first.updated_at).total_seconds() == pytest.approx(10)
    store.delete(("n",), "k")
    clock.advance(10)
    store.put(("n",), "k", {"v": 3})
    assert store.get(("n",), "k").created_at > second.created_at


def test_stale_put_and_delete_raise_with_the_current_version():
    store = CCSStore()
    me, peer = store.for_agent("me"), store.for_agent("peer")
    store.put(("n",), "k", {"v": 1})
    assert me.get(("n",), "k").value == {"v": 1}
    peer.put(("n",), "k", {"v": 2})
    with pytest.raises(StaleView) as info:
        me.put(("n",), "k", {"v": 10})
    assert info.value.current_version == 2 and info.value.details["base_version"] == 1
    with pytest.raises(StaleView):
        me.delete(("n",), "k")
    assert store.get(("n",), "k").value == {"v": 2}
    me.get(("n",), "k")
    me.delete(("n",), "k")
    assert store.get(("n",), "k") is None


def test_read_of_absent_item_then_peer_create_makes_put_stale():
    store = CCSStore()
    me, peer = store.for_agent("me"), store.for_agent("peer")
    assert me.get(("n",), "new") is None
    peer.put(("n",), "new", {"by": "peer"})
    with pytest.raises(StaleView):
        me.put(("n",), "new", {"by": "me"})


def test_search_counts_as_a_read_for_later_puts():
    store = CCSStore()
    me, peer = store.for_agent("me"), store.for_agent("peer")
    store.put(("n",), "k", {"v": 1})
    assert len(me.search(("n",))) == 1
    peer.put(("n",), "k", {"v": 2})
    with pytest.raises(StaleView):
        me.put(("n",), "k", {"v": 3})


def test_batch_semantics_are_sequential():
    store = CCSStore()
    results = store.batch([
        PutOp(("b",), "k", {"v": 1}),
        GetOp(("b",), "k"),
        PutOp(("b",), "k", {"v": 2}),
        GetOp(("b",), "k"),
        PutOp(("b",), "k", None),
        GetOp(("b",), "k"),
    ])
    assert results[0] is None and results[2] is None and results[4] is None
    assert results[1].value == {"v": 1} and results[3].value == {"v": 2} and results[5] is None
    with pytest.raises(ValueError):
        store.batch([object()])


def test_list_namespaces_options_match_inmemory():
    ours, ref = CCSStore(), InMemoryStore()
    for ns in [("a",), ("a", "b"), ("a", "b", "c"), ("x", "b"), ("x", "y", "c"), ("u1", "memories"),
               ("u2", "memories")]:
        for store in (ours, ref):
            store.put(ns, "k", {"v": 1})
    cases = [
        {}, {"prefix": ("a",)}, {"suffix": ("b",)}, {"prefix": ("*", "b")}, {"suffix": ("*", "c")},
        {"max_depth": 1}, {"max_depth": 2, "prefix": ("x",)}, {"limit": 2, "offset": 1},
        {"prefix": ("*", "memories")}, {"prefix": ("zz",)},
    ]
    for kwargs in cases:
        assert ours.list_namespaces(**kwargs) == ref.list_namespaces(**kwargs), kwargs
    op = ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("a",)),
                                            MatchCondition("suffix", ("c",))))
    assert ours.batch([op]) == ref.batch([op])


def test_filters_and_pagination_match_inmemory():
    ours, ref = CCSStore(), InMemoryStore()
    for i in range(12):
        for store in (ours, ref):
            store.put(("docs",), f"d{i}", {"n": i, "kind": "even" if i % 2 == 0 else "odd",
                                            "meta": {"tag": f"t{i % 3}"}, "list": [i, i + 1]})
    cases = [
        {}, {"filter": {"kind": "odd"}}, {"filter": {"n": {"$gte": 4, "$lt": 9}}},
        {"filter": {"meta": {"tag": "t1"}}}, {"filter": {"n": {"$ne": 3}}, "limit": 3, "offset": 2},
        {"filter": {"list": [2, 3]}}, {"limit": 5, "offset": 10}, {"filter": {"missing": 1}},
    ]
    for kwargs in cases:
        got = [(i.key, i.value) for i in ours.search(("docs",), **kwargs)]
        want = [(i.key, i.value) for i in ref.search(("docs",), **kwargs)]
        assert got == want, kwargs


def test_vector_search_matches_inmemory():
    index = {"dims": 26, "embed": letters, "fields": ["text"]}
    ours, ref = CCSStore(index=index), InMemoryStore(index=index)
    texts = ["apples and pears", "zebra zoo", "banana bread", "quiet quokka", "pear tart"]
    for i, t in enumerate(texts):
        for store in (ours, ref):
            store.put(("docs",), f"d{i}", {"text": t, "i": i})
            store.put(("docs",), f"raw{i}", {"text": t, "i": i + 10}, index=False)
    for query in ["pears", "zoo", "bread"]:
        for kwargs in [{}, {"limit": 3}, {"limit": 2, "offset": 1}, {"filter": {"i": {"$gt": 1}}}]:
            got = ours.search(("docs",), query=query, **kwargs)
            want = ref.search(("docs",), query=query, **kwargs)
            assert [(i.key, None if i.score is None else round(i.score, 9)) for i in got] == \
                   [(i.key, None if i.score is None else round(i.score, 9)) for i in want], (query, kwargs)


def test_async_surface_with_vector_index():
    index = {"dims": 26, "embed": letters, "fields": ["text"]}

    async def run():
        store = CCSStore(index=index)
        await store.aput(("d",), "a", {"text": "apple"})
        await store.aput(("d",), "z", {"text": "zzz"})
        top = await store.asearch(("d",), query="apple", limit=1)
        assert [i.key for i in top] == ["a"]
        assert (await store.aget(("d",), "a")).value == {"text": "apple"}
        await store.adelete(("d",), "a")
        assert await store.aget(("d",), "a") is None
        assert await store.alist_namespaces() == [("d",)]

    asyncio.run(run())


# --- TTL ---------------------------------------------------------------------------------------

def test_ttl_expiry_refresh_and_sweep():
    clock = ManualClock()
    store = CCSStore(clock=clock, ttl={"refresh_on_read": True})
    assert store.supports_ttl and store.ttl_config == {"refresh_on_read": True}
    store.put(("t",), "k", {"v": 1}, ttl=1.0)  # minutes
    store.put(("t",), "keep", {"v": 2})
    clock.advance(40)
    assert store.get(("t",), "k") is not None  # refreshes: now expires at 100s
    clock.advance(40)
    assert store.get(("t",), "k", refresh_ttl=False) is not None
    clock.advance(25)
    assert store.get(("t",), "k") is None
    assert [i.key for i in store.search(("t",))] == ["keep"]
    store.put(("gone",), "k", {"v": 1}, ttl=0.5)
    clock.advance(31)
    assert ("gone",) not in store.list_namespaces()
    assert store.sweep_ttl() == 2
    assert store.sweep_ttl() == 0


def test_default_ttl_from_config_and_other_readers_not_made_stale():
    clock = ManualClock()
    store = CCSStore(clock=clock, ttl={"default_ttl": 1.0})
    reader, writer = store.for_agent("reader"), store.for_agent("writer")
    writer.put(("t",), "k", {"v": 1})
    writer.get(("t",), "k")
    clock.advance(30)
    reader.get(("t",), "k")  # refreshes the TTL without bumping the item's version
    writer.put(("t",), "k", {"v": 2})  # so the writer's view is still current
    clock.advance(61)
    assert store.get(("t",), "k") is None


# --- engines and inner stores --------------------------------------------------------------------

def test_sqlite_engine_url_shares_state_between_stores(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    one, two = CCSStore(engine=url), CCSStore(engine=url)
    one.put(("s",), "k", {"v": 1})
    assert two.get(("s",), "k").value == {"v": 1}
    one.for_agent("a").get(("s",), "k")
    two.put(("s",), "k", {"v": 2}, ttl=None)
    with pytest.raises(StaleView):
        one.for_agent("a").put(("s",), "k", {"v": 3})
    one.close()
    two.close()


def test_inner_sqlite_store_holds_the_data(tmp_path):
    with SqliteStore.from_conn_string(str(tmp_path / "lg.db")) as inner:
        inner.setup()
        inner.put(("pre",), "old", {"from": "before wrapping"})
        store = CCSStore(inner=inner)
        assert store.get(("pre",), "old").value == {"from": "before wrapping"}  # adopted
        store.put(("u", "mem"), "k", {"v": 1})
        assert inner.get(("u", "mem"), "k").value == {"v": 1}
        me, peer = store.for_agent("me"), store.for_agent("peer")
        me.get(("u", "mem"), "k")
        peer.put(("u", "mem"), "k", {"v": 2})
        with pytest.raises(StaleView):
            me.put(("u", "mem"), "k", {"v": 3})
        assert inner.get(("u", "mem"), "k").value == {"v": 2}
        assert [i.value for i in store.search(("u",))] == [{"v": 2}]
        assert store.list_namespaces() == inner.list_namespaces()
        store.update(("u", "mem"), "k", lambda v: {"v": v["v"] + 1})
        assert inner.get(("u", "mem"), "k").value == {"v": 3}
        store.delete(("u", "mem"), "k")
        assert inner.get(("u", "mem"), "k") is None
        inner.put(("u", "mem"), "k2", {"v": "drift"})  # a write that bypassed CCSStore
        store.put(("u", "mem"), "k3", {"v": 1})
        assert store.resync() >= 2
        assert inner.get(("pre",), "old").value == {"from": "before wrapping"}


# --- record_to ---------------------------------------------------------------------------------

def test_record_to_writes_one_json_line_per_operation(tmp_path):
    path = tmp_path / "ops.jsonl"
    store = CCSStore().record_to(path)
    me, peer = store.for_agent("me"), store.for_agent("peer")
    me.get(("r",), "k")
    me.put(("r",), "k", {"v": 1})
    me.get(("r",), "k")
    peer.put(("r",), "k", {"v": 2})
    me.get(("r",), "k")
    store.for_agent("old").get(("r",), "k")
    me.put(("r",), "k", {"v": 3})
    with pytest.raises(StaleView):
        store.for_agent("old").put(("r",), "k", {"v": 9})
    me.search(("r",))
    me.list_namespaces()
    me.update(("r",), "k", lambda v: {"v": 4})
    store.record_to(None)
    store.get(("r",), "k")  # not recorded
    lines = read_log(path)
    assert [(x["agent"], x["op"], x["outcome"]) for x in lines] == [
        ("me", "get", "absent"), ("me", "put", "ok"), ("me", "get", "hit"), ("peer", "put", "ok"),
        ("me", "get", "miss"), ("old", "get", "miss"), ("me", "put", "ok"), ("old", "put", "conflict"),
        ("me", "search", "ok"), ("me", "list_namespaces", "ok"), ("me", "update", "ok"),
    ]
    put = lines[1]
    assert put["artifact"] == 'lg/["r","k"]' and put["namespace"] == ["r"] and put["key"] == "k"
    assert (put["seen"], put["version"]) == (0, 1)
    assert lines[3]["seen"] is None  # peer's blind write
    conflict = lines[7]
    assert (conflict["seen"], conflict["version"]) == (2, None)
    assert conflict["error"]["code"] == "stale_view" and conflict["error"]["current_version"] == 3
    assert lines[8]["items"] == [['lg/["r","k"]', 3]]
    assert all(json.dumps(x) for x in lines)


def test_cache_hit_does_not_touch_the_engine(monkeypatch):
    store = CCSStore(strategy="lazy")
    store.put(("c",), "k", {"v": 1})
    assert store.get(("c",), "k").value == {"v": 1}
    coordinator = store.core.coordinator

    def boom(*a, **k):
        raise AssertionError("engine called on a cache hit")

    monkeypatch.setattr(coordinator, "read", boom)
    monkeypatch.setattr(coordinator.backend, "get_blob", boom)
    assert store.get(("c",), "k").value == {"v": 1}
    monkeypatch.undo()
    store.for_agent("peer").put(("c",), "k", {"v": 2})  # invalidates the default agent's copy
    assert store.get(("c",), "k").value == {"v": 2}


def test_inner_postgres_store():
    from tests.conftest import service_url

    dsn = service_url("CCS_TEST_POSTGRES_DSN")
    from langgraph.store.postgres import PostgresStore

    with PostgresStore.from_conn_string(dsn) as inner:
        inner.setup()
        inner.delete(("ccs-test",), "k")
        store = CCSStore(inner=inner)
        store.put(("ccs-test",), "k", {"v": 1})
        assert inner.get(("ccs-test",), "k").value == {"v": 1}
        me = store.for_agent("me")
        me.get(("ccs-test",), "k")
        peer = store.for_agent("peer")
        peer.put(("ccs-test",), "k", {"v": 2})
        with pytest.raises(StaleView):
            me.put(("ccs-test",), "k", {"v": 3})
        assert inner.get(("ccs-test",), "k").value == {"v": 2}
        with pytest.raises(StaleView):  # the default agent's view is still version 1
            store.delete(("ccs-test",), "k")
        peer.delete(("ccs-test",), "k")
        assert inner.get(("ccs-test",), "k") is None


def test_ttl_sweep_from_a_fresh_store_on_the_same_engine(tmp_path):
    clock = ManualClock()
    url = f"sqlite:///{tmp_path}/ttl.db"
    writer = CCSStore(engine=url, clock=clock)
    writer.put(("t",), "k", {"v": 1}, ttl=1.0)
    clock.advance(61)
    sweeper = CCSStore(engine=url, clock=clock)  # has never decoded the item
    assert sweeper.list_namespaces() == []
    assert sweeper.sweep_ttl() == 1
    writer.close()
    sweeper.close()


def test_lease_ttl_is_its_own_parameter():
    """CCSStore(strategy="lease", ttl=2) crashed at the first put with AttributeError: ttl= is
    LangGraph's TTLConfig. The lease interval is lease_ttl=; a non-TTLConfig ttl= is refused at
    construction, naming both meanings."""
    from ccs.protocol.errors import InvalidArgument, InvalidStrategyParameter

    with pytest.raises(InvalidArgument) as err:
        CCSStore(strategy="lease", ttl=2)
    assert err.value.code == "invalid_argument" and err.value.details["parameter"] == "ttl"
    assert "TTLConfig" in err.value.message and "lease_ttl=" in err.value.message
    with pytest.raises(InvalidArgument, match="unknown TTLConfig keys"):
        CCSStore(ttl={"lease": 2})
    with pytest.raises(InvalidArgument):
        CCSStore(ttl={"default_ttl": -1})
    with pytest.raises(InvalidStrategyParameter, match="lease_ttl"):
        CCSStore(strategy="lazy", lease_ttl=2)

    clock = ManualClock()
    store = CCSStore(strategy="lease", lease_ttl=2, clock=clock, ttl={"default_ttl": 60})
    assert store.core.strategy.ttl == 2.0 and store.ttl_config == {"default_ttl": 60}
    store.put(("t",), "k", {"v": 1})
    assert store.get(("t",), "k").value == {"v": 1}
    store.close()
