"""CCSStore's get and put fast paths: the same results as before with less work per call.

The work is counted, not timed: Python frames of the adapter (and of LangGraph's ``Item``) per
get-hit and per put, with ``sys.setprofile``. The core's own frames (the commit) are not counted.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime

import pytest
from langgraph.store.base import Item

from call_count import calls_made
from ccs.adapters import CCSStore
from ccs.adapters.langgraph.docs import decode_doc, encode_doc, is_flat
from ccs.protocol.errors import InvalidValue, StaleView

NS = ("users", "u1")


class Level(enum.IntEnum):
    HIGH = 3


def adapter_frames(fn) -> list[str]:
    """Python functions of ``ccs/adapters/langgraph`` and of LangGraph's store that ``fn()`` ran."""
    return calls_made(fn, lambda path: "adapters/langgraph" in path or "langgraph/store" in path)


def test_a_get_hit_runs_few_adapter_frames_and_no_item_constructor():
    with CCSStore() as store:
        store.put(NS, "k", {"text": "x" * 100})
        store.get(NS, "k")
        frames = adapter_frames(lambda: store.get(NS, "k"))
    # store.get, _call, resolve, ops.get, ids.encode, copy_doc_value, the Item builder; before:
    # 14 frames (graph_task, graph_node, Session.call, bridge.view, DocCache.peek, copy_value and
    # its comprehension, Item.__init__)
    assert len(frames) <= 7, frames
    assert "__init__:__init__" not in frames and not any(f.endswith(":copy_value") for f in frames)


def test_a_put_runs_few_adapter_frames():
    with CCSStore() as store:
        store.put(NS, "k", {"text": "a"})
        store.get(NS, "k")
        frames = adapter_frames(lambda: store.put(NS, "k", {"text": "b", "n": 1, "ok": True}))
    # before: 14 (_default_ttl, graph_task, graph_node, Session.call, _log without a recorder, ...)
    assert len(frames) <= 11, frames
    assert not any(f.endswith((":_default_ttl", ":_log", ":graph_task", ":graph_node")) for f in frames)


def test_the_item_a_get_returns_is_a_full_langgraph_item_with_a_private_value():
    with CCSStore() as store:
        store.put(NS, "flat", {"a": 1, "b": "two", "c": None, "d": 1.5, "e": False})
        store.put(NS, "nested", {"a": {"b": [1, {"c": 2}]}})
        store.put(NS, "mixed", {"a": "text", "tags": ["x", "y"], "n": 0})
        for key in ("flat", "nested", "mixed"):
            item = store.get(NS, key)
            assert type(item) is Item and item.key == key and item.namespace == NS
            assert isinstance(item.created_at, datetime) and item.updated_at >= item.created_at
            assert item.dict()["namespace"] == list(NS)  # every slot is set
            before = store.get(NS, key).value
            item.value["a"] = "changed"
            item.value.setdefault("z", []).append(1)
            assert store.get(NS, key).value == before
        nested = store.get(NS, "nested")
        nested.value["a"]["b"][1]["c"] = 99
        assert store.get(NS, "nested").value == {"a": {"b": [1, {"c": 2}]}}
        store.get(NS, "mixed").value["tags"].append("z")
        assert store.get(NS, "mixed").value == {"a": "text", "tags": ["x", "y"], "n": 0}


@pytest.mark.parametrize("value", [
    {"x": float("nan")}, {"x": float("inf")}, {"x": -float("inf")}, {1: "int key"}, {"x": (1, 2)},
    {"x": {"y": float("nan")}}, {"x": [b"bytes"]}, {"x": {1, 2}},
])
def test_values_json_cannot_round_trip_are_still_refused(value):
    with CCSStore() as store:
        with pytest.raises(InvalidValue):
            store.put(NS, "k", value)
        assert store.get(NS, "k") is None


def test_a_cyclic_value_is_refused_as_invalid():
    cyclic: dict = {"a": []}
    cyclic["a"].append(cyclic)
    with CCSStore() as store, pytest.raises(InvalidValue):
        store.put(NS, "k", cyclic)


def test_flat_means_plain_scalars_only():
    assert is_flat({"s": "x", "i": 1, "b": True, "n": None, "f": 0.5})
    assert not is_flat({"f": float("nan")}) and not is_flat({"f": float("inf")})
    assert not is_flat({"l": []}) and not is_flat({"d": {}}) and not is_flat({1: "x"})
    assert not is_flat({"e": Level.HIGH})  # a subclass takes the full check, which accepts it
    with CCSStore() as store:
        store.put(NS, "k", {"e": Level.HIGH})
        assert store.get(NS, "k").value == {"e": 3}


@pytest.mark.parametrize("value", [
    {"text": "prefers concise answers", "n": 3, "tags": ["a", "b"], "score": 0.25, "ok": None},
    {"ü": "ünïcödé \u2028 \"quoted\" \\ \n\t\x01", "big": 10**30, "neg": -1.5e-300},
    {"nested": {"deep": [[{"x": [True, False, None]}]]}},
])
def test_documents_are_the_bytes_json_dumps_writes(value):
    ours = encode_doc(value, 1, 2, 5.0, 1234.5, {"text": [0.5, 1.0]}, "a", index=["text"])
    expected = json.dumps({"v": value, "c": 1, "u": 2, "t": 5.0, "e": 1234.5, "x": {"text": [0.5, 1.0]},
                           "i": ["text"]}, separators=(",", ":"), allow_nan=False).encode()
    assert ours == expected
    assert decode_doc(ours).value == value


def test_checked_put_and_defaults_unchanged():
    with CCSStore(ttl={"default_ttl": 10}) as store:
        a, b = store.for_agent("a"), store.for_agent("b")
        a.put(NS, "k", {"v": 1})
        b.get(NS, "k")
        a.put(NS, "k", {"v": 2})
        with pytest.raises(StaleView):
            b.put(NS, "k", {"v": 3})
        assert a.get(NS, "k").value == {"v": 2}
        assert decode_doc(_stored(store, "k")).ttl == 10
    with CCSStore() as store:
        store.put(NS, "k", {"v": 1})
        assert decode_doc(_stored(store, "k")).ttl is None


def _stored(store: CCSStore, key: str) -> bytes:
    aid = store._ids.encode(NS, key)
    rec = next(r for r in store.core.coordinator.artifacts(aid) if r.artifact_id == aid)
    return store.core.coordinator.backend.get_blob(rec.content.digest)


def test_a_document_whose_vectors_json_cannot_hold_is_refused():
    with pytest.raises(InvalidValue):
        encode_doc({"a": 1}, 1, 2, None, None, {"text": [float("nan")]}, "a")
