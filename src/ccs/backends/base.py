"""The engine contract: run a pure transition atomically over named records, store blobs by hash.

Keys are strings: ``a/<artifact id>`` for artifact records, ``g/<agent id>`` for agent
liveness records and ``o/<agent id>US<artifact id>`` (US: the control character U+001F, which
no id holds, so the prefix ``o/<agent id>US`` lists exactly one agent's entries) for the
ownership index, one small entry per artifact an agent may own. ``transact(keys, fn)`` reads
those records, calls ``fn(records)`` which returns ``(changes, result)``, and stores the
changes only if no other transaction touched the keys meanwhile. ``fn`` must be pure: an
optimistic engine may call it more than once.

Content is stored by SHA-256 beside the records. The invariant every engine keeps: **content a
committed record references (as its current version or a retained one) exists.** Two rules make
it hold while ``collect_garbage`` runs from any process at any time:

1. A record comes to reference content only in the transaction that stores that content: the
   bytes travel with ``transact(keys, fn, blobs)`` and are written in the same atomic commit as
   the records (idempotent: the hash names the bytes). A change that would make a record
   reference content neither passed in ``blobs`` nor referenced by the record it replaces is
   refused (``new_content``): no caller can rely on content stored earlier, which a collection
   may have deleted since. A retained version's hash only ever comes from the record it replaces.
2. ``collect_garbage`` decides and deletes atomically with respect to those transactions: no
   commit that makes a record reference a blob can land between the scan of the records that
   found the blob unreferenced and its deletion (each engine's docstring says how).

So a collection either precedes a commit (which then stores its content again, if it was just
deleted) or follows it (and finds the commit's record). The age guard (``stored_before``) is not
needed for that; it only spares content stored with ``put_blob`` and not yet referenced.

No driver exception leaves an engine: each engine names its driver's exception classes in
``_driver_errors`` and turns one into a typed ``CoherenceError`` in ``_typed_error``; every public
method of an engine class (and its constructor) is wrapped to do that (``__init_subclass__``).
Where the outcome of a commit matters, ``transact`` decides it itself before the wrapper sees it.

The audit log is part of the contract. ``fn`` may return ``(changes, result, audit)``: ``audit``
(an ``AuditBatch``, or ``None``) is stored in the same atomic commit as ``changes`` — a commit
and its entries land together or not at all — and each artifact's log is trimmed, in that same
commit, to the entries of its latest ``audit.retain`` versions. ``append_audit`` stores entries
that describe no change (refusals) on their own; ``audit(artifact, since, limit)`` reads the log.

Events can travel with the commit too. ``fn`` may return a fourth element, a *notice*: what the
engine's own bus made of the transaction's events (``Bus.carrier``), which the engine sends or
stores in the same atomic commit (Redis: ``PUBLISH`` inside the conditional-apply script, run only
when it applies; PostgreSQL: ``pg_notify`` before ``COMMIT``, delivered at commit; SQLite: rows
of the events table). The
events of a commit are then published exactly when it lands, with no round trip of their own.
An engine without a carrying bus never gets a notice.
"""

from __future__ import annotations

import functools
import inspect
import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ccs.backends import record_json
from ccs.protocol.audit import AuditBatch, AuditEntry
from ccs.protocol.errors import CoherenceError, CorruptState, EngineError, InvalidRequest
from ccs.protocol.records import AgentRecord, ArtifactRecord, OwnershipEntry

R = TypeVar("R")
Record = ArtifactRecord | AgentRecord | OwnershipEntry
# fn returns (changes, result) or (changes, result, audit batch or None)
TransactFn = Callable[[dict[str, Any]],
                      tuple[Mapping[str, Any], R] | tuple[Mapping[str, Any], R, Any]]
Blobs = Mapping[str, bytes]  # content by SHA-256 hex digest

ARTIFACT_PREFIX = "a/"
AGENT_PREFIX = "g/"
OWNS_PREFIX = "o/"
OWNS_SEPARATOR = "\x1f"


def artifact_key(artifact_id: str) -> str:
    return ARTIFACT_PREFIX + artifact_id


def agent_key(agent_id: str) -> str:
    return AGENT_PREFIX + agent_id


def owns_prefix(agent_id: str) -> str:
    """The prefix of every ownership index key of ``agent_id``."""
    return OWNS_PREFIX + agent_id + OWNS_SEPARATOR


def owns_key(agent_id: str, artifact_id: str) -> str:
    return owns_prefix(agent_id) + artifact_id


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (``None``: no bound).

    Code-point order is the byte order of UTF-8, the order of SQLite's BINARY and PostgreSQL's
    "C" collation, so ``prefix <= key < bound`` selects exactly the keys with the prefix and an
    index serves it: the last code point below U+10FFFF is incremented, U+10FFFF ones dropped.
    """
    chars = prefix.rstrip("\U0010ffff")
    if not chars:
        return None
    nxt = ord(chars[-1]) + 1
    if 0xD800 <= nxt <= 0xDFFF:  # surrogates are not characters: skip to the next one
        nxt = 0xE000
    return chars[:-1] + chr(nxt)


def encode_record(rec: Record) -> str:
    """The record's JSON text (``ccs.backends.record_json``: the text ``json.dumps`` writes)."""
    return record_json.dumps(rec, rec.to_dict()).decode()


def record_digests(rec: Record | None) -> list[str]:
    """The content a record references: its current version and every retained one."""
    if not isinstance(rec, ArtifactRecord):
        return []
    found = [d for _, d in rec.history]
    if rec.content.digest is not None:
        found.append(rec.content.digest)
    return found


def new_content(records: Mapping[str, Any], changes: Mapping[str, Any], blobs: Blobs | None
                ) -> dict[str, bytes]:
    """The content ``changes`` reference, from ``blobs``, for the engine to store with them.

    Refuses (``InvalidRequest``, nothing applied) a change that makes a record reference content
    that is neither in ``blobs`` nor already referenced by the record it replaces (``records``).
    """
    stored: dict[str, bytes] = {}
    for key, rec in changes.items():
        if rec.__class__ is not ArtifactRecord:  # an agent record or a deletion: no content
            continue
        digest = rec.content.digest
        if digest is None:
            continue
        if blobs and digest in blobs:
            stored[digest] = blobs[digest]
            continue
        old = records.get(key)
        if old is not None and old.content.digest == digest:  # unchanged: the common case
            continue
        if digest not in record_digests(old):
            raise InvalidRequest(
                f"record {key!r} would reference content {digest[:12]} that the transaction does "
                "not store (pass its bytes in blobs)", artifact=key)
    return stored


def unpack(out: tuple[Any, ...]) -> tuple[Mapping[str, Any], Any, AuditBatch | None, Any]:
    """``fn``'s return value as (changes, result, audit batch or None, notice or None)."""
    if len(out) == 2:
        return out[0], out[1], None, None
    changes, result, audit, *rest = out
    return (changes, result, audit if audit is not None and audit.entries else None,
            rest[0] if rest else None)


def decode_record(key: str, text: str | bytes) -> Record:
    try:
        data = record_json.loads(text)
        if key.startswith(ARTIFACT_PREFIX):
            return ArtifactRecord.from_dict(data)
        if key.startswith(OWNS_PREFIX):
            entry = OwnershipEntry.from_dict(data)
            if owns_key(entry.agent, entry.artifact_id) != key:
                raise ValueError(f"it names {entry.agent!r} and {entry.artifact_id!r}")
            return entry
        return AgentRecord.from_dict(data)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise CorruptState(f"record {key!r} cannot be decoded: {exc}", artifact=key) from exc


class RecordCodec:
    """``encode_record``/``decode_record`` that remember, per key, the last body they saw.

    A networked or file engine reads a record's body at the start of every transaction and, on
    the commit path, usually reads back exactly the body this process wrote last. Records are
    immutable, so when the stored body equals the remembered one the remembered record is
    returned instead of decoding the JSON again (one string comparison instead of a parse and a
    rebuild of every field). A body that differs in any byte (a peer's commit, damage) is decoded
    as before. Bounded: past ``size`` keys the oldest entries are forgotten.

    With ``digest`` (a function of a body, e.g. its SHA-1 in hex) the codec also remembers each
    body's digest beside it (``digest_of``): a speculative commit sends the digest of the body it
    assumes is stored, and a record that did not change since (an agent's liveness record, its
    ownership entry) is not hashed again on every commit. The digest is kept in the same entry as
    the body it was computed from, so it is never paired with another body.
    """

    __slots__ = ("_as_bytes", "_digest", "_seen", "_size")

    def __init__(self, size: int = 4096, *, as_bytes: bool = False,
                 digest: Callable[[Any], str] | None = None) -> None:
        # key -> (body, record, digest of body or None until asked for)
        self._seen: dict[str, tuple[Any, Record, str | None]] = {}
        self._size = size
        self._as_bytes = as_bytes  # the engine returns bytes (Redis): remember bytes
        self._digest = digest

    def encode(self, key: str, rec: Record) -> str | bytes:
        body: str | bytes = record_json.dumps(rec, rec.to_dict())
        if not self._as_bytes:
            body = body.decode()
        self._remember(key, body, rec)
        return body

    def decode(self, key: str, body: str | bytes) -> Record:
        seen = self._seen.get(key)
        if seen is not None and seen[0] == body:
            return seen[1]
        rec = decode_record(key, body)
        self._remember(key, body, rec)
        return rec

    def forget(self, key: str) -> None:
        self._seen.pop(key, None)

    def remembered(self, key: str) -> tuple[str | bytes, Record] | None:
        """The last (body, record) seen for ``key``: what a speculative commit assumes is stored."""
        seen = self._seen.get(key)
        return None if seen is None else (seen[0], seen[1])

    def digest_of(self, key: str, body: str | bytes) -> str:
        """``digest(body)``, computed once per remembered body of ``key``: a body that is not the
        one remembered for ``key`` (any byte differs) is hashed, and nothing is remembered."""
        seen = self._seen.get(key)
        if seen is not None and (seen[0] is body or seen[0] == body):
            if seen[2] is not None:
                return seen[2]
            d = self._digest(body)  # type: ignore[misc]
            if self._seen.get(key) is seen:  # not replaced meanwhile (another thread)
                self._seen[key] = (seen[0], seen[1], d)
            return d
        return self._digest(body)  # type: ignore[misc]

    def _remember(self, key: str, body: str | bytes, rec: Record) -> None:
        seen = self._seen
        if len(seen) >= self._size and key not in seen:
            try:  # dicts keep insertion order: drop the oldest eighth at once
                for old in list(itertools.islice(seen, self._size // 8 or 1)):
                    seen.pop(old, None)
            except RuntimeError:  # another thread changed it meanwhile: skip this round
                pass
        seen[key] = (body, rec, None)


class Backend(ABC):
    """A transactional record store plus a content-addressed blob store."""

    url: str = ""
    _driver_errors: tuple[type[BaseException], ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls._driver_errors:
            return
        for name, fn in list(vars(cls).items()):
            if inspect.isfunction(fn) and (name == "__init__" or not name.startswith("_")) \
                    and name != "close":
                setattr(cls, name, _typed(fn))

    def _typed_error(self, exc: BaseException, operation: str) -> CoherenceError:
        """The typed error for a driver exception that escaped ``operation``."""
        return EngineError(f"{operation} failed: {type(exc).__name__}: {exc}", operation=operation)

    @abstractmethod
    def transact(self, keys: Sequence[str], fn: TransactFn[R], blobs: Blobs | None = None) -> R:
        """Run ``fn`` atomically over ``keys``; store the content its changes reference with them."""

    @abstractmethod
    def get(self, key: str) -> Record | None:
        """A committed snapshot of one record, without taking part in any transaction."""

    @abstractmethod
    def keys(self, prefix: str) -> list[str]: ...

    def records(self, prefix: str) -> list[tuple[str, Record]]:
        """Committed snapshots of every record whose key starts with ``prefix``, read in bulk
        (one query where the engine can: a sweep over 10k agents is not 10k round trips)."""
        found = []
        for key in self.keys(prefix):
            rec = self.get(key)
            if rec is not None:
                found.append((key, rec))
        return found

    @abstractmethod
    def put_blob(self, digest: str, data: bytes) -> None:
        """Store content outside any transaction, refreshing its stored time if present. Nothing
        makes it durable for a record: a record gets its content through ``transact(blobs=)``."""

    @abstractmethod
    def get_blob(self, digest: str) -> bytes | None: ...

    @abstractmethod
    def blob_digests(self, stored_before: float | None = None) -> set[str]:
        """Digests of stored blobs; with ``stored_before`` (epoch seconds) only older ones."""

    @abstractmethod
    def delete_blobs(self, digests: Iterable[str]) -> int:
        """Delete blobs unconditionally, referenced or not (tests, repairs); GC uses ``collect_garbage``."""

    @abstractmethod
    def collect_garbage(self, stored_before: float) -> int:
        """Delete blobs stored before ``stored_before`` (epoch seconds) that no record references,
        atomically with respect to every transaction; returns how many were deleted."""

    @abstractmethod
    def append_audit(self, batch: AuditBatch) -> None:
        """Store audit entries that describe no change of a record (refusals), on their own."""

    @abstractmethod
    def audit(self, artifact: str | None = None, since: float | None = None,
              limit: int | None = None) -> list[AuditEntry]:
        """The audit log (of one artifact, or of all), entries at or after ``since`` (epoch
        seconds), the latest ``limit``, in the order they happened (``protocol.audit.select``)."""

    def close(self) -> None:
        return None

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _typed(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def method(self: Backend, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except self._driver_errors as exc:
            raise self._typed_error(exc, fn.__name__) from exc

    return method
