"""The write half of a PostgreSQL transaction, and the speculative commit in one round trip.

A commit on the locking path waits twice for the server: once for its locks and reads, once for
its writes and ``COMMIT``. But the engine's ``RecordCodec`` remembers, per key, the body this
process last read or wrote, and in a steady state (an owner writing its artifact again, a CAS on
a counter it has cached) that body is still the stored one. A *speculation* runs the transition
(``fn``, pure, in Python as always) on the remembered records and sends one statement, on the
autocommit connection, so one implicit transaction: ``SELECT ccs_apply_v1(keys, locks, digests,
gc, writes...)``.

``ccs_apply_v1`` (postgres_sql.py) first calls ``ccs_expect_v1``, which takes the same locks as
the locking path, in the same order (the keys' advisory locks in ascending order, so that keys
without a row serialize too; then the existing rows ``FOR UPDATE``; then, when the commit stores
content, the shared garbage-collection lock), and compares the SHA-256 of every stored body with
the one the speculation assumed (``NULL``: no row). On any difference it raises SQLSTATE
``CCSXM``: the statement, and so everything it wrote, rolls back, and the engine commits on the
locking path instead, running ``fn`` again on the real records. So a speculation commits exactly
what the locking path would have committed at the moment its check held the locks, or nothing.
Only then does it store the writes ``fn`` decided (the locking path sends the same call, without
the check, inside its transaction). No protocol logic is in SQL: the functions check, lock and
store what they are given.

The statement is not pipelined: a failed statement in a pipeline makes the server skip the rest
of the flush, Parse messages included, and psycopg (which prepares a statement on its sixth use)
would then believe prepared a statement the server never saw. Alone, it fails by itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass
from select import select as poll_readable
from typing import Any

import psycopg

from ccs.backends.base import Blobs, RecordCodec, TransactFn, new_content, unpack
from ccs.backends.postgres_sql import APPLY_FUNCTION, APPLY_PARAMS
from ccs.backends.record_json import encode_entry
from ccs.protocol.audit import AuditBatch
from ccs.protocol.errors import BackendUnavailable, CoherenceError

CONTENDED_FOR = 1.0  # seconds without speculation on a key after it missed


def utf8(body: str | bytes) -> bytes:
    return body.encode() if isinstance(body, str) else body


def body_digest(body: str | bytes) -> str:
    """What ``ccs_expect_v1`` computes of a stored body (bodies are ASCII JSON)."""
    return hashlib.sha256(utf8(body)).hexdigest()


@dataclass
class Speculation:
    """A transition already run on the remembered records, ready to be sent behind its check."""

    digests: list[str | None]
    changes: Any
    result: Any
    audit: AuditBatch | None
    notice: Any
    content: dict[str, bytes] | None


class Speculator:
    """Decides whether to speculate, and runs ``fn`` on the remembered records when it does.

    ``counts``: transactions with writes that committed in one round trip, and speculations that
    missed (tests and benchmarks read them). After a miss its keys are not speculated on for
    ``contended_for`` seconds: a key other processes keep changing (a contended counter) would
    miss again, and a miss costs a round trip and the connection's prepared statements.
    """

    def __init__(self, codec: RecordCodec) -> None:
        self.codec = codec
        self.counts = {"committed": 0, "missed": 0}
        self.contended_for = CONTENDED_FOR
        self._contended: dict[str, float] = {}  # key: monotonic time until which it is skipped

    def guess(self, keys: list[str], fn: TransactFn[Any], blobs: Blobs | None) -> Speculation | None:
        """``fn`` run on the records this process last saw, if it remembers every key and the
        outcome has something to write. ``None``: take the locking path."""
        if self._contended and self._still_contended(keys):
            return None
        remembered = self.codec.remembered
        seen = [remembered(key) for key in keys]
        if None in seen:
            return None
        records: dict[str, Any] = {key: s[1] for key, s in zip(keys, seen, strict=True)}  # type: ignore[index]
        try:
            changes, result, audit, notice = unpack(fn(records))
            content = new_content(records, changes, blobs) if changes else None
        except BackendUnavailable:  # a fault, not a verdict on the records: it stands
            raise
        except CoherenceError:  # a refusal may come from a stale memory: decide on the real records
            return None
        if not changes and audit is None:  # nothing to write: the locking path reads, writes nothing
            return None
        digest_of = self.codec.digest_of  # remembered with the body: unchanged ones not rehashed
        digests = [digest_of(key, s[0]) for key, s in zip(keys, seen, strict=True)]  # type: ignore[index]
        return Speculation(digests, changes, result, audit, notice, content)

    def missed(self, keys: list[str]) -> None:
        self.counts["missed"] += 1
        until = time.monotonic() + self.contended_for
        for key in keys:
            self._contended[key] = until

    def _still_contended(self, keys: list[str]) -> bool:
        now, contended = time.monotonic(), self._contended
        if len(contended) > 1024:  # forget the expired ones in bulk
            with contextlib.suppress(RuntimeError):  # another thread changed it: next time
                for key, until in list(contended.items()):
                    if until <= now:
                        contended.pop(key, None)
        return any(contended.get(key, 0.0) > now for key in keys)


def array_literal(items: Any) -> str:
    """``items`` (strings, integers, floats or ``None``) as the text of a PostgreSQL array, which the
    statement casts (``%s::text[]``): every string element double-quoted with ``"`` and ``\\``
    escaped, the quoting ``array_in`` reads. psycopg's own list adaptation looks up a dumper
    and runs a regular expression per element, which on the speculation's three small arrays
    cost more than the rest of the statement's parameters."""
    out = []
    for x in items:
        if x.__class__ is str:
            out.append('"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"')
        else:
            out.append("NULL" if x is None else str(x))
    return "{" + ",".join(out) + "}"


def number_array(items: Any) -> str:
    """``array_literal`` of integers or floats, none ``None``."""
    return "{" + ",".join(map(str, items)) + "}"


def spoken_to(conn: psycopg.Connection) -> bool:
    """Whether the server sent anything to this idle pooled connection (one non-blocking poll):
    nothing is expected but a termination notice or the end of the connection (a restart)."""
    try:
        return bool(poll_readable([conn.fileno()], [], [], 0)[0])
    except (OSError, ValueError, psycopg.Error):
        return True


class Writes:
    """The one statement that stores a commit: ``ccs_apply_v1`` (postgres_sql.py) with the
    content, records, audit entries, trims and events as parameters, and the statements of
    ``append_audit``."""

    def __init__(self, schema: str, codec: RecordCodec, gc_lock: int) -> None:
        s = f'"{schema}"'
        self.codec = codec
        self.gc_lock = gc_lock
        self.q_apply = f"SELECT {s}.{APPLY_FUNCTION}({APPLY_PARAMS})"
        self.q_audit_insert = f"INSERT INTO {s}.audit (artifact, version, at, body) VALUES (%s, %s, %s, %s)"
        self.q_audit_trim = f"DELETE FROM {s}.audit WHERE artifact = %s AND version <= %s"

    def params(self, check: tuple[Any, Any, Any] | None, changes: Any,
               content: dict[str, bytes] | None, audit: AuditBatch | None, notice: Any
               ) -> tuple[Any, ...]:
        """``q_apply``'s parameters. ``check``: the speculation's keys, lock ids and digests
        (``None`` on the locking path, which holds its locks already). Arrays travel as text
        (``array_literal``); bodies and content as bytes, concatenated, with their lengths, so
        that a body reaches the server verbatim and nothing is escaped per character."""
        gc = self.gc_lock if content else None
        keys, locks, digests = (None, None, None) if check is None else (
            array_literal(check[0]), number_array(check[1]), array_literal(check[2]))
        if content:
            order = sorted(content)  # one order: two commits never wait on each other
            blobs = (array_literal(order), number_array([len(content[d]) for d in order]),
                     b"".join([bytes(content[d]) for d in order]), time.time())
        else:
            blobs = (None, None, None, None)
        encode = self.codec.encode
        if changes:
            bodies = [None if rec is None else utf8(encode(key, rec)) for key, rec in changes.items()]
            records = (array_literal(list(changes)),
                       array_literal([None if b is None else len(b) for b in bodies]),
                       b"".join([b for b in bodies if b is not None]))
        else:
            records = (None, None, None)
        if audit is not None and audit.entries:
            entries = audit.entries
            texts = [encode_entry(e).encode() for e in entries]
            logged = (array_literal([e.artifact for e in entries]),
                      number_array([e.version for e in entries]),
                      number_array([float(e.at) for e in entries]),
                      number_array([len(t) for t in texts]), b"".join(texts))
        else:
            logged = (None, None, None, None, None)
        trims = sorted(audit.trims().items()) if audit is not None else ()
        trimmed = (array_literal([a for a, _ in trims]), number_array([b for _, b in trims])) \
            if trims else (None, None)
        notices = list(notice or ())
        events = (array_literal([c for c, _ in notices]), array_literal([p for _, p in notices])) \
            if notices else (None, None)
        return (keys, locks, digests, gc, *blobs, *records, *logged, *trimmed, *events)

    def log(self, cur: psycopg.Cursor, audit: AuditBatch) -> None:
        for e in audit.entries:
            cur.execute(self.q_audit_insert, (e.artifact, e.version, e.at, encode_entry(e)))
        for aid, bound in sorted(audit.trims().items()):
            cur.execute(self.q_audit_trim, (aid, bound))
