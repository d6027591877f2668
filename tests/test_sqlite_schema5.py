"""SQLite schema 5: records in a rowid table (a body up to ~4 KB stays in its leaf, no overflow
page per commit). A store of schema 4 is rebuilt in place when first opened: its records and
audit entries stay, and commits go on from them."""

from __future__ import annotations

import sqlite3

from ccs import Coordinator
from ccs.backends import sqlite as sqlite_engine
from ccs.backends.base import artifact_key
from ccs.backends.sqlite import SqliteBackend
from ccs.coordinator.config import Limits

ALICE = "alice@0123456789ab"


def table_sql(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))


def back_to_schema_4(path) -> None:
    """Rewrite a store in the layout schema 4 had (what the previous release created)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("""
        BEGIN;
        CREATE TABLE r4 (key TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID;
        INSERT INTO r4 SELECT key, body FROM ccs_records;
        DROP TABLE ccs_records;
        ALTER TABLE r4 RENAME TO ccs_records;
        UPDATE ccs_meta SET value = '4' WHERE key = 'schema_version';
        COMMIT;
    """)
    conn.close()


def commits(c: Coordinator, artifact: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        c.write(ALICE, artifact, i, 0 if i else None, (f"v{i}".encode(), "str"),
                commit_id=f"{artifact}-{i}")


def test_a_new_store_has_the_schema_5_layout(tmp_path):
    b = SqliteBackend(f"sqlite:///{tmp_path}/state.db")
    b.close()
    conn = sqlite3.connect(tmp_path / "state.db")
    tables = table_sql(conn)
    assert "WITHOUT ROWID" not in tables["ccs_records"]
    assert "WITHOUT ROWID" in tables["ccs_blobs"] and "ccs_audit_artifact" in tables
    assert conn.execute("SELECT value FROM ccs_meta WHERE key='schema_version'").fetchone() == ("5",)
    assert sqlite_engine.SCHEMA_VERSION == 5
    conn.close()


def test_a_schema_4_store_is_rebuilt_in_place_and_keeps_records_and_audit(tmp_path):
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    c = Coordinator(url)
    commits(c, "plan", 40)  # 32 remembered commit ids: a body past a WITHOUT ROWID row's local part
    commits(c, "notes", 3)
    records = {k: c.backend.get(k) for k in (artifact_key("plan"), artifact_key("notes"))}
    audit = c.audit()
    c.close()
    back_to_schema_4(path)
    conn = sqlite3.connect(path)
    assert "WITHOUT ROWID" in table_sql(conn)["ccs_records"]
    conn.close()

    c = Coordinator(url)
    try:
        assert {k: c.backend.get(k) for k in records} == records
        assert c.audit() == audit and [e.version for e in c.audit("plan")] == list(range(1, 41))
        assert c.artifact("plan").committed("plan-39") == (40, 0)  # idempotency ids kept
        commits(c, "plan", 1, start=40)
        assert [e.commit_id for e in c.audit("plan")][-2:] == ["plan-39", "plan-40"]
    finally:
        c.close()
    conn = sqlite3.connect(path)
    tables = table_sql(conn)
    assert "WITHOUT ROWID" not in tables["ccs_records"]
    assert "WITHOUT ROWID" in tables["ccs_blobs"] and "ccs_audit_artifact" in tables
    assert conn.execute("SELECT value FROM ccs_meta WHERE key='schema_version'").fetchone() == ("5",)
    conn.close()


def test_trimming_still_keeps_the_latest_versions(tmp_path):
    c = Coordinator(f"sqlite:///{tmp_path}/state.db", limits=Limits(audit_retain=16))
    try:
        commits(c, "plan", 50)
        versions = [e.version for e in c.audit("plan")]
        assert versions[-1] == 50 and versions == list(range(versions[0], 51))
        assert 16 <= len(versions) <= 17
    finally:
        c.close()
