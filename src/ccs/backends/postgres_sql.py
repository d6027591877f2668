"""The PL/pgSQL functions a PostgreSQL store's schema holds, and their creation.

* ``ccs_expect_v1(keys, locks, digests, gc_lock)``: the speculation's check (postgres_apply.py).
  It takes the locking path's locks in the same order (the keys' advisory locks ascending, so
  that keys without a row serialize too; then the existing rows ``FOR UPDATE``; then, when the
  commit stores content, the shared garbage-collection lock) and raises SQLSTATE ``CCSXM`` when a
  stored body's SHA-256 is not the one assumed (``NULL``: no row).
* ``ccs_lock_v1(keys, locks)``: the locking path's first step in one statement: the keys' advisory
  locks in ascending order, then the existing rows ``FOR UPDATE`` in key order, returned.
* ``ccs_apply_v1(check..., content, records, audit entries, trims, events)``: a commit's writes
  in one statement, in the order the engine used to send them one statement each: the check
  (when ``keys`` is given: a speculation) or else the shared collection lock when content is
  stored (the locking path, which holds its other locks already), then the content, in the order
  given, ``ON CONFLICT DO NOTHING``; the records, in the order given (a ``NULL`` length deletes);
  the audit entries, in order (their ids are the log's order); the trims; ``pg_notify`` of each
  event (delivered at commit, if it commits). Bodies and content arrive concatenated, with each
  one's length in bytes (``bytea``: a slice by byte offset costs nothing, where a ``text`` one
  counts the characters before it). It knows nothing of the protocol: ``fn`` decided everything
  in Python.

One statement is one implicit transaction (autocommit) or part of the caller's: an error in any
part (``CCSXM``, a full disk) rolls back all of it. Each statement costs psycopg ~20 us of client
CPU and ``BEGIN``/``COMMIT`` two more, which is why a commit is one call.

A later change of a function's body gets a new name (``_v2``): stores opened by older releases
keep calling the one they know.
"""

from __future__ import annotations

import psycopg

EXPECT_FUNCTION = "ccs_expect_v1"
EXPECT_SIGNATURE = f"{EXPECT_FUNCTION}(text[], bigint[], text[], bigint)"
LOCK_FUNCTION = "ccs_lock_v1"
LOCK_SIGNATURE = f"{LOCK_FUNCTION}(text[], bigint[])"
APPLY_FUNCTION = "ccs_apply_v1"
_APPLY_ARGS = (
    ("keys", "text[]"), ("locks", "bigint[]"), ("digests", "text[]"), ("gc_lock", "bigint"),
    ("blob_digests", "text[]"), ("blob_sizes", "integer[]"), ("blob_data", "bytea"),
    ("blob_stored_at", "double precision"),
    ("rec_keys", "text[]"), ("rec_sizes", "integer[]"), ("rec_bodies", "bytea"),
    ("audit_artifacts", "text[]"), ("audit_versions", "bigint[]"),
    ("audit_ats", "double precision[]"), ("audit_sizes", "integer[]"), ("audit_bodies", "bytea"),
    ("trim_artifacts", "text[]"), ("trim_bounds", "bigint[]"),
    ("channels", "text[]"), ("payloads", "text[]"),
)
APPLY_SIGNATURE = f"{APPLY_FUNCTION}({', '.join(t for _, t in _APPLY_ARGS)})"
APPLY_PARAMS = ", ".join(f"%s::{t}" for _, t in _APPLY_ARGS)  # the call's placeholders
MISMATCH = "CCSXM"  # the SQLSTATE ccs_expect_v1 raises when a record is not the one assumed

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

_LOCK_SQL = """
CREATE OR REPLACE FUNCTION {s}.{name}(keys text[], locks bigint[])
RETURNS TABLE (k text, b text) LANGUAGE plpgsql AS $ccs$
DECLARE
  lock_id bigint;
BEGIN
  FOREACH lock_id IN ARRAY locks LOOP  -- ascending: one global order
    PERFORM pg_advisory_xact_lock(lock_id);
  END LOOP;
  RETURN QUERY SELECT r.key, r.body FROM {s}.records AS r WHERE r.key = ANY(keys) ORDER BY r.key
    FOR UPDATE;
END
$ccs$
"""

_APPLY_SQL = """
CREATE OR REPLACE FUNCTION {s}.{name}({args})
RETURNS void LANGUAGE plpgsql AS $ccs$
DECLARE
  i integer;
  pos integer := 1;
BEGIN
  IF keys IS NOT NULL THEN
    PERFORM {s}.{expect}(keys, locks, digests, gc_lock);
  ELSIF gc_lock IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock_shared(gc_lock);
  END IF;
  FOR i IN 1 .. coalesce(cardinality(blob_digests), 0) LOOP
    INSERT INTO {s}.blobs (digest, data, stored_at)
      VALUES (blob_digests[i], substring(blob_data FROM pos FOR blob_sizes[i]), blob_stored_at)
      ON CONFLICT (digest) DO NOTHING;
    pos := pos + blob_sizes[i];
  END LOOP;
  pos := 1;
  FOR i IN 1 .. coalesce(cardinality(rec_keys), 0) LOOP
    IF rec_sizes[i] IS NULL THEN
      DELETE FROM {s}.records WHERE key = rec_keys[i];
    ELSE
      INSERT INTO {s}.records (key, body)
        VALUES (rec_keys[i], convert_from(substring(rec_bodies FROM pos FOR rec_sizes[i]), 'UTF8'))
        ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body;
      pos := pos + rec_sizes[i];
    END IF;
  END LOOP;
  pos := 1;
  FOR i IN 1 .. coalesce(cardinality(audit_artifacts), 0) LOOP
    INSERT INTO {s}.audit (artifact, version, at, body)
      VALUES (audit_artifacts[i], audit_versions[i], audit_ats[i],
              convert_from(substring(audit_bodies FROM pos FOR audit_sizes[i]), 'UTF8'));
    pos := pos + audit_sizes[i];
  END LOOP;
  FOR i IN 1 .. coalesce(cardinality(trim_artifacts), 0) LOOP
    DELETE FROM {s}.audit WHERE artifact = trim_artifacts[i] AND version <= trim_bounds[i];
  END LOOP;
  FOR i IN 1 .. coalesce(cardinality(channels), 0) LOOP
    PERFORM pg_notify(channels[i], payloads[i]);
  END LOOP;
END
$ccs$
"""


def ensure_functions(conn: psycopg.Connection, schema: str) -> None:
    """Create the functions in ``schema`` unless they exist. The caller holds the schema's
    advisory lock in a transaction, so processes opening the store at once create each once (a
    concurrent ``CREATE OR REPLACE`` of one function fails with "tuple concurrently updated").
    A store created by an older release gets the ones it lacks when this release opens it."""
    s = f'"{schema}"'
    found = conn.execute("SELECT to_regprocedure(%s), to_regprocedure(%s), to_regprocedure(%s)",
                         (f"{s}.{EXPECT_SIGNATURE}", f"{s}.{APPLY_SIGNATURE}",
                          f"{s}.{LOCK_SIGNATURE}")).fetchone()
    if found is None or found[0] is None:
        conn.execute(_EXPECT_SQL.format(s=s, name=EXPECT_FUNCTION, mismatch=MISMATCH))
    if found is None or found[1] is None:
        args = ", ".join(f"{n} {t}" for n, t in _APPLY_ARGS)
        conn.execute(_APPLY_SQL.format(s=s, name=APPLY_FUNCTION, args=args, expect=EXPECT_FUNCTION))
    if found is None or found[2] is None:
        conn.execute(_LOCK_SQL.format(s=s, name=LOCK_FUNCTION))
