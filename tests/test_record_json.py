"""Record bodies through orjson: the same text the json module writes, old bodies still read,
damaged ones still CorruptState, and the json module where orjson would differ."""

from __future__ import annotations

import json
import math
import typing

import msgspec.structs
import pytest

from ccs.backends import record_json
from ccs.backends.base import RecordCodec, decode_record, encode_record, owns_key
from ccs.protocol.audit import AuditEntry
from ccs.protocol.errors import CorruptState
from ccs.protocol.records import (
    AgentRecord,
    ArtifactRecord,
    Content,
    Grant,
    OwnershipEntry,
    Reclaim,
)

ARTIFACT = ArtifactRecord(
    "doc/ü", version=40, epoch=3, seq=7, content=Content("d" * 64, 12, "json"),
    owner=Grant("p0@x", 3, 1796044046.914671, True), sharers={"p1@y": 39},
    history=tuple((v, f"{v:064x}") for v in range(32, 40)),
    commits=tuple((f"c0ffee-{v}", v + 1, 3) for v in range(8, 40)),
    last_reclaim=Reclaim("p9@z", 2, "expired", 1e16), updated_at=0.1, updated_by="p0@x")
RECORDS = [("a/doc/ü", ARTIFACT), ("g/p0@x", AgentRecord("p0@x", 1796044077.5, 30.0, indexed=2)),
           (owns_key("p0@x", "doc"), OwnershipEntry("p0@x", "doc"))]


def json_text(rec: object) -> str:
    return json.dumps(rec.to_dict(), separators=(",", ":"))  # type: ignore[attr-defined]


@pytest.mark.parametrize(("key", "rec"), RECORDS)
def test_same_text_as_the_json_module_and_round_trips(key: str, rec: object) -> None:
    text = encode_record(rec)  # type: ignore[arg-type]
    assert json.loads(text) == json.loads(json_text(rec))
    if key != "a/doc/ü":  # orjson writes "ü" as UTF-8, json as an escape: same value
        assert text == json_text(rec)
    assert decode_record(key, text) == rec
    assert decode_record(key, json_text(rec)) == rec  # a body an older release wrote
    assert decode_record(key, text.encode()) == rec
    assert RecordCodec(as_bytes=True).encode(key, rec) == text.encode()  # type: ignore[arg-type]


def float_fields(cls: type) -> set[str]:
    hints = typing.get_type_hints(cls)
    return {f.name for f in msgspec.structs.fields(cls) if hints[f.name] is float}


def test_the_finite_check_knows_every_float_field() -> None:
    # record_json._finite_floats lists these; a new float field must be added there.
    assert float_fields(ArtifactRecord) == {"updated_at"}
    assert float_fields(Grant) == {"granted_at"}
    assert float_fields(Reclaim) == {"at"}
    assert float_fields(AgentRecord) == {"expires_at", "ttl"}
    assert float_fields(OwnershipEntry) == set()
    assert float_fields(AuditEntry) == {"at"}


def test_audit_entries_have_the_text_entry_encode_writes() -> None:
    entry = AuditEntry(1796044046.914671, "doc/ü", "write", "committed", "p0@x", 39, 40, 3,
                       commit_id="c0ffee-39", digest="d" * 64)
    assert json.loads(record_json.encode_entry(entry)) == json.loads(entry.encode())
    assert AuditEntry.decode(record_json.encode_entry(entry)) == entry
    ascii_entry = msgspec.structs.replace(entry, artifact="doc")
    assert record_json.encode_entry(ascii_entry) == ascii_entry.encode()
    for value in (math.inf, math.nan):  # never null: the json module writes these
        odd = msgspec.structs.replace(entry, at=value)
        assert record_json.encode_entry(odd) == odd.encode()


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_a_non_finite_float_is_written_by_the_json_module_not_as_null(value: float) -> None:
    owner = msgspec.structs.replace(ARTIFACT.owner, granted_at=value)  # type: ignore[type-var]
    reclaim = msgspec.structs.replace(ARTIFACT.last_reclaim, at=value)  # type: ignore[type-var]
    for rec in (msgspec.structs.replace(ARTIFACT, updated_at=value),
                msgspec.structs.replace(ARTIFACT, owner=owner),
                msgspec.structs.replace(ARTIFACT, last_reclaim=reclaim)):
        text = encode_record(rec)
        assert "Infinity" in text and "null," not in text.replace('"last_reclaim":null', "")
        assert decode_record("a/doc/ü", text) == rec
    agent = AgentRecord("p0@x", value, 30.0)
    assert decode_record("g/p0@x", encode_record(agent)) == agent


def test_what_orjson_refuses_to_write_is_written_by_the_json_module() -> None:
    for rec in (msgspec.structs.replace(ARTIFACT, updated_by="lone \ud800 surrogate"),
                msgspec.structs.replace(ARTIFACT, version=2**70)):
        assert encode_record(rec) == json_text(rec)
        assert decode_record("a/doc/ü", encode_record(rec)) == rec


def test_damaged_bodies_are_corrupt_state() -> None:
    good = encode_record(ARTIFACT)
    for body in ("", "{", good[:-1], good.replace('"version":40', '"version":"x"'), "null", "[1,]",
                 b"\xff\xfe", '{"id":1}'):
        with pytest.raises(CorruptState):
            decode_record("a/doc/ü", body)
    codec = RecordCodec()
    codec.encode("a/doc/ü", ARTIFACT)
    with pytest.raises(CorruptState):  # differs from the remembered body: decoded, refused
        codec.decode("a/doc/ü", good[:-1])


def test_loads_falls_back_for_what_older_releases_could_write() -> None:
    assert record_json.loads('{"x":NaN,"y":Infinity}')["y"] == math.inf
    assert record_json.loads('"\\ud800"') == "\ud800"
    with pytest.raises(ValueError):
        record_json.loads("{nope")
