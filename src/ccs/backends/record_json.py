"""The JSON text of a stored record or audit entry, written and read through orjson.

The text is the one the ``json`` module writes with ``separators=(",", ":")`` for the same
record (same fields, same order, same numbers), so stores written before and after read alike.
orjson only differs where the ``json`` module is lenient, and there the ``json`` module is used:

* writing: orjson refuses strings with lone surrogates, integers beyond 64 bits and non-string
  keys (``TypeError``), and writes a non-finite float as ``null`` where ``json`` writes
  ``Infinity``/``NaN`` — a record with such a float is written by the ``json`` module, so it
  reads back as the same value instead of as ``null``;
* reading: orjson refuses ``NaN``/``Infinity`` literals, lone surrogate escapes and out-of-range
  numbers, which older releases could have written; such a body is read again by ``json``, and
  only a body neither accepts is damaged.

Measured on a 1.8 KB artifact record (32 remembered commit ids): encoding 22 µs with ``json``
against 1.5 µs, parsing 15 µs against 5 µs.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

from ccs.protocol.audit import AuditEntry
from ccs.protocol.records import AgentRecord, ArtifactRecord, OwnershipEntry


def dumps(rec: object, data: dict[str, Any]) -> bytes:
    """``data`` (``rec.to_dict()``) as UTF-8 JSON text, the text ``json.dumps`` would write."""
    if _finite_floats(rec):
        try:
            return orjson.dumps(data)
        except TypeError:  # orjson.JSONEncodeError: a lone surrogate, a huge integer
            pass
    return json.dumps(data, separators=(",", ":")).encode()


def encode_entry(entry: AuditEntry) -> str:
    """``entry.encode()``, the same text, through orjson (an audit row is written per commit)."""
    return dumps(entry, entry.to_dict()).decode()


def loads(text: str | bytes) -> Any:
    """The value of a stored body; ``ValueError`` when no JSON reader accepts it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # what orjson refuses and older releases could write


def _finite_floats(rec: object) -> bool:
    """Whether every float field of ``rec`` is finite (orjson would write ``null`` for others).

    Lists the float fields of each record class; tests/backends/test_record_json.py checks the
    list against the classes' annotations, so a new float field cannot be missed here.
    """
    if rec.__class__ is ArtifactRecord:
        owner, reclaim = rec.owner, rec.last_reclaim  # type: ignore[attr-defined]
        return (math.isfinite(rec.updated_at)  # type: ignore[attr-defined]
                and (owner is None or math.isfinite(owner.granted_at))
                and (reclaim is None or math.isfinite(reclaim.at)))
    if rec.__class__ is AuditEntry:
        return math.isfinite(rec.at)  # type: ignore[attr-defined]
    if rec.__class__ is AgentRecord:
        return math.isfinite(rec.expires_at) and math.isfinite(rec.ttl)  # type: ignore[attr-defined]
    return rec.__class__ is OwnershipEntry  # strings only; any other class: the json module
