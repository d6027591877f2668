"""What one store item looks like inside an artifact, and the cache of decoded items.

An item's artifact content is one compact JSON document::

    {"v": <value>, "c": <created, ns>, "u": <updated, ns>,
     "t": <ttl minutes or null>, "e": <expires at, s or null>, "x": {<path>: <vector>} (optional),
     "i": <the put's index= argument> (optional, only with an inner store)}

Values must be JSON-serializable (as for ``PostgresStore`` and ``SqliteStore``): tuples come back
as lists and non-string dict keys as strings. Serializing on the way in is the copy on the way in.

A decoded document is immutable once built and shared by every agent of the store through
:class:`DocCache` (keyed by content hash, so a cache hit needs neither a hash nor a parse); what a
caller gets is always a fresh copy of the value (:func:`copy_value`), never the cached object.

TTL: ``e`` is set when the item is written. A read that refreshes the TTL does not rewrite the item
(that would bump its version and make every other reader's view stale): it writes the small side
artifact ``ttl_id(aid)`` holding ``{"v": <item version>, "e": <new expiry>}``. The effective expiry
is the later of the two, counting the side artifact only while it refers to the current version.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ccs.client.codec import check_json_value
from ccs.protocol.errors import InvalidValue

_LIMIT = 50_000
_SCALAR_TYPES = frozenset({str, int, bool, type(None)})  # exact types: subclasses take the full check


@dataclass(frozen=True, slots=True)
class Doc:
    value: dict[str, Any]
    created_ns: int
    updated_ns: int
    ttl: float | None  # minutes
    expires: float | None  # clock seconds
    vectors: dict[str, list[float]] | None
    created_at: datetime
    updated_at: datetime
    index: Any = None  # the put's ``index=`` argument, kept only when an inner store is wrapped
    # the keys of ``value`` (a dict) whose values are dicts or lists, the only ones a private copy
    # must copy in depth; None when ``value`` is not a dict
    nested: tuple[str, ...] | None = None

    def expired(self, now: float, refreshed: float | None = None) -> bool:
        if self.expires is None:
            return False
        until = self.expires if refreshed is None else max(self.expires, refreshed)
        return now >= until


def to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def is_flat(value: Any) -> bool:
    """``value`` is a dict of str keys to str, int, bool, None or finite float values (no
    subclasses): a JSON value that round-trips unchanged, checked without walking paths."""
    if type(value) is not dict:
        return False
    scalars = _SCALAR_TYPES
    for k, v in value.items():
        if type(k) is not str:
            return False
        if type(v) not in scalars and not (type(v) is float and v - v == 0.0):  # inf/nan: v-v is nan
            return False
    return True


# One JSON encoder for every document (json.dumps with options builds a new one per call). The
# values were checked first (no NaN or infinity, no cycles: check_json_value bounds the depth), so
# the encoder's circular-reference markers are not needed.
_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _c_encoder() -> Any:
    """The C encoder object behind ``json.dumps``, built once; None if this Python has another
    signature for it (then ``_dumps`` encodes). Checked against ``_dumps`` on a sample, and for
    refusing NaN."""
    try:
        from json.encoder import c_make_encoder, encode_basestring_ascii

        def default(o: Any) -> Any:
            raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

        enc = c_make_encoder(None, default, encode_basestring_ascii, None, ":", ",", False, False, False)
        sample = {"v": {"a\u00e9\"": [1, 2.5, None, True, {"b": "x"}]}, "c": 1, "t": None, "e": 1.5}
        if "".join(enc(sample, 0)) != _dumps(sample):
            return None
        try:
            enc({"x": float("nan")}, 0)
        except ValueError:
            return enc  # refuses NaN as _dumps does (an embedder's vectors are not pre-checked)
        return None
    except Exception:
        return None


_ENCODER = _c_encoder()


def encode_doc(value: Any, created_ns: int, updated_ns: int, ttl: float | None,
               expires: float | None, vectors: dict[str, list[float]] | None,
               artifact: str, index: Any = None) -> bytes:
    if not is_flat(value):  # the common flat dict is checked in one pass, anything else fully
        check_json_value(value, artifact)
    doc: dict[str, Any] = {"v": value, "c": created_ns, "u": updated_ns, "t": ttl, "e": expires}
    if vectors:
        doc["x"] = vectors
    if index is not None:
        doc["i"] = index
    try:
        text = _dumps(doc) if _ENCODER is None else "".join(_ENCODER(doc, 0))
        return text.encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidValue(f"store values must be JSON-serializable: {exc}", artifact=artifact) from exc


def decode_doc(data: bytes) -> Doc:
    d = json.loads(data)
    c, u = int(d["c"]), int(d["u"])
    v = d["v"]
    nested = tuple(k for k, x in v.items() if type(x) in (dict, list)) if type(v) is dict else None
    return Doc(v, c, u, d.get("t"), d.get("e"), d.get("x"), to_datetime(c), to_datetime(u),
               d.get("i"), nested)


class DocCache:
    """Decoded documents by content digest, bounded; shared by all agents of a store."""

    def __init__(self, limit: int = _LIMIT) -> None:
        self._docs: dict[str, Doc] = {}
        self._limit = limit
        self._lock = threading.Lock()
        # peek(digest): the decoded document if cached, else None. The dict's own get: the
        # read path's lookup costs no Python frame.
        self.peek: Callable[[str], Doc | None] = self._docs.get

    def get(self, digest: str, data: bytes | None) -> Doc:
        doc = self._docs.get(digest)
        if doc is None:
            if data is None:
                raise KeyError(digest)
            doc = decode_doc(data)
            with self._lock:
                if len(self._docs) >= self._limit:
                    for old in list(self._docs)[: self._limit // 4]:
                        self._docs.pop(old, None)
                self._docs[digest] = doc
        return doc


def copy_doc_value(doc: Doc) -> Any:
    """A private copy of a document's value: a shallow copy of the dict, with only its dict and
    list values copied in depth (a flat value is one ``dict.copy``)."""
    nested = doc.nested
    if nested is None:
        return copy_value(doc.value)
    value = doc.value.copy()
    for k in nested:
        value[k] = copy_value(value[k])
    return value


def copy_value(value: Any) -> Any:
    """Deep copy of a decoded JSON value (dicts, lists and immutable scalars only)."""
    kind = type(value)
    if kind is dict:
        return {k: (v if type(v) not in (dict, list) else copy_value(v)) for k, v in value.items()}
    if kind is list:
        return [v if type(v) not in (dict, list) else copy_value(v) for v in value]
    return value


def encode_ttl(version: int, expires: float) -> bytes:
    return json.dumps({"v": version, "e": expires}, separators=(",", ":")).encode()


def decode_ttl(data: bytes | None, version: int) -> float | None:
    """The refreshed expiry the side artifact holds for item ``version``, if any."""
    if not data:
        return None
    d = json.loads(data)
    return float(d["e"]) if d.get("v") == version else None


class HybridClock:
    """Nanosecond timestamps from the store's clock, strictly increasing within a process, so
    creation order is total even when two writes land in the same clock tick."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._last = 0
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._clock.now()

    def stamp(self) -> int:
        ns = int(self._clock.now() * 1e9)
        with self._lock:
            if ns <= self._last:
                ns = self._last + 1
            self._last = ns
        return ns
