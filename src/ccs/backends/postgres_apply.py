"""The write half of a PostgreSQL transaction, and the speculative commit in one round trip.

A commit on the locking path waits twice for the server: once for its locks and reads, once for
its writes and ``COMMIT``. But the engine's ``RecordCodec`` remembers, per key, the body this
process last read or wrote, and in a steady state (an owner writing its artifact again, a CAS on
a counter it has cached) that body is still the stored one. A *speculation* runs the transition
(``fn``, pure, in Python as always) on the remembered records and sends, in one flush with one
Sync: ``BEGIN``; ``ccs_expect_v1(keys, locks, digests, gc)``; the writes; ``COMMIT``.

``ccs_expect_v1`` is a small PL/pgSQL function created with the schema. It takes the same locks
as the locking path, in the same order (the keys' advisory locks in ascending order, so that
keys without a row serialize too; then the existing rows ``FOR UPDATE``; then, when the commit
stores content, the shared garbage-collection lock), and compares the SHA-256 of every stored
body with the one the speculation assumed (``NULL``: no row). On any difference it raises
SQLSTATE ``CCSXM``: the server skips the rest of the pipeline, the transaction rolls back, and
the engine commits on the locking path instead, running ``fn`` again on the real records. So a
speculation commits exactly what the locking path would have committed at the moment its check
held the locks, or nothing. No protocol logic is in SQL: the function only checks and locks.

A missed speculation leaves psycopg's cache of prepared statements in doubt: psycopg prepares a
statement on its sixth use and, in pipeline mode, records it as prepared when it sends the Parse;
when the server skips that Parse (an earlier statement of the flush failed) the record stays, and
every later use of the statement on that connection fails ("prepared statement _pg3_N does not
exist"). So after a missed speculation ``forget_prepared`` empties that cache (psycopg then
deallocates every statement in the next flush and prepares them again as they are reused), and a
speculation that fails for any other reason closes its connection (the pool replaces it).
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
from ccs.backends.record_json import encode_entry
from ccs.protocol.audit import AuditBatch
from ccs.protocol.errors import BackendUnavailable, CoherenceError

EXPECT_FUNCTION = "ccs_expect_v1"
EXPECT_SIGNATURE = f"{EXPECT_FUNCTION}(text[], bigint[], text[], bigint)"
MISMATCH = "CCSXM"  # the SQLSTATE ccs_expect_v1 raises when a record is not the one assumed
CONTENDED_FOR = 1.0  # seconds without speculation on a key after it missed

_EXPECT_SQL = """
CREATE OR REPLACE FUNCTION {s}.{name}(keys text[], locks bigint[], digests text[], gc_lock bigint)
RETURNS void LANGUAGE plpgsql AS $ccs$
DECLARE
  lock_id bigint;
BEGIN
  FOREACH lock_id IN ARRAY locks LOOP  -- ascending: one global order, as on the locking path
    PERFORM pg_advisory_xact_lock(lock_id);
  END LOOP;
  PERFORM 1 FROM {s}.records WHERE key = ANY(keys) ORDER BY key FOR UPDATE;
  IF EXISTS (SELECT 1 FROM unnest(keys, digests) AS expected(key, digest)
             LEFT JOIN {s}.records AS stored ON stored.key = expected.key
             WHERE expected.digest IS DISTINCT FROM
                   encode(sha256(convert_to(stored.body, 'UTF8')), 'hex')) THEN
    RAISE EXCEPTION USING ERRCODE = '{mismatch}',
      MESSAGE = 'ccs: a record is not the one this process last saw (speculation missed)';
  END IF;
  IF gc_lock IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock_shared(gc_lock);
  END IF;
END
$ccs$
"""


def ensure_expect_function(conn: psycopg.Connection, schema: str) -> None:
    """Create ``ccs_expect_v1`` in ``schema`` unless it exists. The caller holds the schema's
    advisory lock in a transaction, so processes opening the store at once create it once (a
    concurrent ``CREATE OR REPLACE`` of one function fails with "tuple concurrently updated").
    A later change of its body gets a new name: stores opened by older releases keep theirs."""
    s = f'"{schema}"'
    found = conn.execute("SELECT to_regprocedure(%s)", (f"{s}.{EXPECT_SIGNATURE}",)).fetchone()
    if found is None or found[0] is None:
        conn.execute(_EXPECT_SQL.format(s=s, name=EXPECT_FUNCTION, mismatch=MISMATCH))


def forget_prepared(conn: psycopg.Connection) -> None:
    """Make psycopg forget the statements it believes prepared on ``conn`` (see above). Its cache
    has no public reset; without the private one this psycopg has, the connection is closed."""
    clear = getattr(getattr(conn, "_prepared", None), "clear", None)
    if callable(clear):
        clear()
    elif not conn.closed:
        conn.close()


def body_digest(body: str | bytes) -> str:
    """What ``ccs_expect_v1`` computes of a stored body (bodies are ASCII JSON)."""
    return hashlib.sha256(body.encode() if isinstance(body, str) else body).hexdigest()


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
    """``items`` (strings, integers or ``None``) as the text of a PostgreSQL array, which the
    statement casts (``%s::text[]``): every string element double-quoted with ``"`` and ``\\``
    escaped, the quoting ``array_in`` reads. psycopg's own list adaptation looks up a dumper
    and runs a regular expression per element, which on the speculation's three small arrays
    cost more than the rest of the statement's parameters."""
    return "{" + ",".join(
        "NULL" if x is None else str(x) if x.__class__ is int else
        '"' + x.replace("\\", "\\\\").replace('"', '\\"') + '"' for x in items) + "}"


def spoken_to(conn: psycopg.Connection) -> bool:
    """Whether the server sent anything to this idle pooled connection (one non-blocking poll):
    nothing is expected but a termination notice or the end of the connection (a restart)."""
    try:
        return bool(poll_readable([conn.fileno()], [], [], 0)[0])
    except (OSError, ValueError, psycopg.Error):
        return True


class Writes:
    """The statements that store a commit: content, records, audit entries, events."""

    def __init__(self, schema: str, codec: RecordCodec, gc_lock: int) -> None:
        s = f'"{schema}"'
        self.codec = codec
        self.gc_lock = gc_lock
        self.q_expect = f"SELECT {s}.{EXPECT_FUNCTION}(%s::text[], %s::bigint[], %s::text[], %s::bigint)"
        self.q_upsert = (f"INSERT INTO {s}.records (key, body) VALUES (%s, %s) "
                         "ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body")
        self.q_delete = f"DELETE FROM {s}.records WHERE key = %s"
        self.q_store_blob = (f"INSERT INTO {s}.blobs (digest, data, stored_at) VALUES (%s, %s, %s) "
                             "ON CONFLICT (digest) DO NOTHING")
        self.q_audit_insert = f"INSERT INTO {s}.audit (artifact, version, at, body) VALUES (%s, %s, %s, %s)"
        self.q_audit_trim = f"DELETE FROM {s}.audit WHERE artifact = %s AND version <= %s"
        # The usual commit (one record, one audit entry) in one statement: each statement costs
        # psycopg ~20 us of client CPU in a pipeline. Both inserts run in full (a CTE that
        # modifies data always does), in the same transaction, and fail or succeed together.
        self.q_upsert_logged = f"WITH record AS ({self.q_upsert}) {self.q_audit_insert}"

    def queue(self, cur: psycopg.Cursor, changes: Any, content: dict[str, bytes] | None,
              audit: AuditBatch | None, notice: Any, *, gc_locked: bool) -> None:
        """Queue the writes on ``cur`` (in pipeline mode: sent with the next Sync).
        ``gc_locked``: the shared collection lock is already taken (by ``ccs_expect_v1``)."""
        if content:  # excluded from a collection's scan and delete (see postgres.py)
            if not gc_locked:
                cur.execute("SELECT pg_advisory_xact_lock_shared(%s)", (self.gc_lock,))
            now = time.time()
            for digest in sorted(content):  # one order: two commits never wait on each other
                cur.execute(self.q_store_blob, (digest, content[digest], now))
        encode = self.codec.encode
        if audit is not None and len(audit.entries) == 1 and len(changes) == 1:
            (key, rec), = changes.items()
            if rec is not None:  # the usual commit: one statement
                e = audit.entries[0]
                cur.execute(self.q_upsert_logged, (key, encode(key, rec), e.artifact, e.version,
                                                   e.at, encode_entry(e)))
                self.trim(cur, audit)
                changes, audit = {}, None
        for key, rec in changes.items():
            if rec is None:
                cur.execute(self.q_delete, (key,))
            else:
                cur.execute(self.q_upsert, (key, encode(key, rec)))
        if audit is not None:
            self.log(cur, audit)
        for channel, payload in notice or ():  # delivered by PostgreSQL at COMMIT, if it commits
            cur.execute("SELECT pg_notify(%s, %s)", (channel, payload))

    def log(self, cur: psycopg.Cursor, audit: AuditBatch) -> None:
        for e in audit.entries:
            cur.execute(self.q_audit_insert, (e.artifact, e.version, e.at, encode_entry(e)))
        self.trim(cur, audit)

    def trim(self, cur: psycopg.Cursor, audit: AuditBatch) -> None:
        for aid, bound in sorted(audit.trims().items()):
            cur.execute(self.q_audit_trim, (aid, bound))
