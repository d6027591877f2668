"""One agent, a generated workload: CCSStore gives the same results as InMemoryStore, op for op.

Known, documented differences are normalized here and nowhere else:
* timestamps are not compared (wall clock);
* search order: both give insertion order within one namespace; across namespaces InMemoryStore
  groups by the order namespaces were first *touched* (even by a get that found nothing), so
  searches spanning several namespaces are compared as sets, unpaginated;
* list_namespaces: InMemoryStore keeps listing a namespace after its last item is deleted (and
  one that was only read); CCSStore lists namespaces that hold items. The reference is therefore
  a fresh InMemoryStore holding exactly the live items.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.store.memory import InMemoryStore

from ccs.adapters import CCSStore

LEAF_NAMESPACES = [("u1",), ("u2",), ("team", "x", "deep")]
NAMESPACES = [*LEAF_NAMESPACES, ("team", "x"), ("team", "y")]
PREFIXES = [*NAMESPACES, ("team",), ()]
KEYS = ["k0", "k1", "k2", "k3"]

values = st.fixed_dictionaries(
    {"n": st.integers(0, 5), "tag": st.sampled_from(["a", "b"])},
    optional={"meta": st.fixed_dictionaries({"p": st.booleans()}),
              "xs": st.lists(st.integers(0, 2), max_size=2)},
)
filters = st.one_of(
    st.none(),
    st.fixed_dictionaries({"tag": st.sampled_from(["a", "b"])}),
    st.fixed_dictionaries({"n": st.fixed_dictionaries({"$gte": st.integers(0, 5)})}),
    st.fixed_dictionaries({"n": st.fixed_dictionaries({"$ne": st.integers(0, 5)})}),
    st.fixed_dictionaries({"meta": st.fixed_dictionaries({"p": st.booleans()})}),
)
ns_pattern = st.lists(st.sampled_from(["u1", "team", "x", "deep", "*"]), min_size=1, max_size=2).map(tuple)

ops = st.one_of(
    st.tuples(st.just("put"), st.sampled_from(NAMESPACES), st.sampled_from(KEYS), values),
    st.tuples(st.just("delete"), st.sampled_from(NAMESPACES), st.sampled_from(KEYS)),
    st.tuples(st.just("get"), st.sampled_from(NAMESPACES), st.sampled_from(KEYS)),
    st.tuples(st.just("search"), st.sampled_from(PREFIXES), filters, st.integers(1, 5), st.integers(0, 4)),
    st.tuples(st.just("list"), st.one_of(st.none(), ns_pattern), st.one_of(st.none(), ns_pattern),
              st.one_of(st.none(), st.integers(1, 3)), st.integers(1, 6), st.integers(0, 3)),
)


def _items(items):
    return [(tuple(i.namespace), i.key, i.value) for i in items]


def _live_reference(ref: InMemoryStore) -> InMemoryStore:
    fresh = InMemoryStore()
    for item in ref.search((), limit=10**6):
        fresh.put(item.namespace, item.key, item.value)
    return fresh


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, max_size=40), st.sampled_from(["lazy", "eager", "lease", "access_count", "broadcast"]))
def test_single_agent_matches_inmemory_store(workload, strategy):
    ours, ref = CCSStore(strategy=strategy), InMemoryStore()
    for op in workload:
        kind = op[0]
        if kind == "put":
            _, ns, key, value = op
            assert ours.put(ns, key, value) == ref.put(ns, key, value)
        elif kind == "delete":
            _, ns, key = op
            assert ours.delete(ns, key) == ref.delete(ns, key)
        elif kind == "get":
            _, ns, key = op
            got, want = ours.get(ns, key), ref.get(ns, key)
            assert (got is None) == (want is None), op
            if got is not None:
                assert (got.namespace, got.key, got.value) == (want.namespace, want.key, want.value)
        elif kind == "search":
            _, prefix, flt, limit, offset = op
            if prefix in LEAF_NAMESPACES:
                got = ours.search(prefix, filter=flt, limit=limit, offset=offset)
                want = ref.search(prefix, filter=flt, limit=limit, offset=offset)
                assert _items(got) == _items(want), op
            else:
                got = ours.search(prefix, filter=flt, limit=1000)
                want = ref.search(prefix, filter=flt, limit=1000)
                assert sorted(_items(got), key=repr) == sorted(_items(want), key=repr), op
        else:
            _, prefix, suffix, depth, limit, offset = op
            kwargs = {"prefix": prefix, "suffix": suffix, "max_depth": depth, "limit": limit,
                      "offset": offset}
            assert ours.list_namespaces(**kwargs) == _live_reference(ref).list_namespaces(**kwargs), op
    everything = sorted(_items(ours.search((), limit=10**6)), key=repr)
    assert everything == sorted(_items(ref.search((), limit=10**6)), key=repr)
    ours.close()
