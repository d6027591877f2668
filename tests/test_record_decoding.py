"""ArtifactRecord.from_dict reads a stored body's lists in C, and accepts and refuses what the
element-by-element conversion did: the same record from any body it accepted, CorruptState
(through decode_record) for any body it refused."""

from __future__ import annotations

import json
import pickle

import msgspec.structs
import pytest

from call_count import python_calls
from ccs.backends.base import decode_record, encode_record
from ccs.protocol.errors import CorruptState
from ccs.protocol.messages import Event
from ccs.protocol.records import EMPTY, ArtifactRecord, Content, Grant

RECORD = ArtifactRecord(
    "doc", 40, 3, 7, Content("d" * 64, 12, "json"), Grant("p0@x", 3, 5.5, True),
    sharers={"p1@y": 39, "p2@y": 40}, history=tuple((v, f"{v:064x}") for v in range(32, 40)),
    commits=tuple((f"c0ffee-{v}", v + 1, 3) for v in range(8, 40)), updated_at=0.1)


def body(**changes: object) -> dict:
    d = json.loads(encode_record(RECORD))
    d.update(changes)
    return d


def test_a_stored_body_is_read_without_a_python_step_per_remembered_commit() -> None:
    d = body()
    assert ArtifactRecord.from_dict(d) == RECORD
    # element by element (a generator step per commit id) this took over 40 calls
    assert python_calls(lambda: ArtifactRecord.from_dict(d)) <= 6
    assert ArtifactRecord.from_dict(body(sharers={})).sharers is EMPTY


def test_bodies_with_convertible_values_read_as_before() -> None:
    loose = body(commits=[["c1", "2", 3.0], [5, True, 1]], history=[["7", 8]], sharers={"a": "4"})
    rec = ArtifactRecord.from_dict(loose)
    assert rec.commits == (("c1", 2, 3), ("5", 1, 1))
    assert rec.history == ((7, "8"),) and dict(rec.sharers) == {"a": 4}
    missing = {k: v for k, v in body().items() if k not in ("sharers", "history", "commits")}
    rec = ArtifactRecord.from_dict(missing)
    assert rec.sharers == {} and rec.history == () and rec.commits == ()


@pytest.mark.parametrize("changes", [
    {"commits": [["c1", 2]]}, {"commits": [["c1", "x", 3]]}, {"commits": None}, {"commits": [7]},
    {"history": [[1, "h", 2]]}, {"history": [["x", "h"]]}, {"sharers": {"a": "x"}},
    {"sharers": None}, {"sharers": [["a", 1]]},  # not an object: was an AttributeError
])
def test_damaged_lists_are_corrupt_state(changes: dict) -> None:
    with pytest.raises(CorruptState):
        decode_record("a/doc", json.dumps(body(**changes)))


def test_records_are_frozen_structs_with_the_dataclass_behaviour_kept() -> None:
    with pytest.raises(AttributeError):
        RECORD.version = 41  # type: ignore[misc]
    assert msgspec.structs.replace(RECORD, seq=8).seq == 8 and RECORD.seq == 7
    assert Content.__match_args__ == ("digest", "size", "kind")
    event = Event("invalidate", "doc", 2, 0, 1, "a", ("b",))
    again = pickle.loads(pickle.dumps(event))
    assert again == event and hash(again) == hash(event)
    with pytest.raises(TypeError):  # a mapping field: unhashable, as the frozen dataclass was
        hash(RECORD)
    assert ArtifactRecord("x").sharers is EMPTY and ArtifactRecord("x").history == ()
