"""A store made before the audit log (SQLite schema 3, PostgreSQL schema 2) is upgraded in place:
its records stay, the audit table appears, and the next commit is logged."""

from __future__ import annotations

import sqlite3
import uuid

from ccs import Coordinator
from ccs.backends import postgres as pg_engine
from ccs.backends import sqlite as sqlite_engine
from conformance.conftest import drop_store, with_query
from conftest import service_url

ALICE = "alice@0123456789ab"


def test_sqlite_store_from_before_the_audit_log_is_upgraded_in_place(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    c = Coordinator(url)
    c.write(ALICE, "plan", 0, None, (b"v1", "str"), commit_id="c1")
    c.close()
    conn = sqlite3.connect(tmp_path / "old.db")  # back to schema 3: no audit table
    conn.execute("DROP TABLE ccs_audit")
    conn.execute("UPDATE ccs_meta SET value='3' WHERE key='schema_version'")
    conn.commit()
    c = Coordinator(url)
    try:
        assert c.artifact("plan").version == 1 and c.audit() == []
        c.write(ALICE, "plan", 1, 0, (b"v2", "str"), commit_id="c2")
        assert [(e.commit_id, e.base_version, e.version) for e in c.audit("plan")] == [("c2", 1, 2)]
    finally:
        c.close()
    assert conn.execute("SELECT value FROM ccs_meta WHERE key='schema_version'").fetchone() == (
        str(sqlite_engine.SCHEMA_VERSION),)
    conn.close()


def test_postgres_store_from_before_the_audit_log_is_upgraded_in_place():
    import psycopg

    url = with_query(service_url("CCS_TEST_POSTGRES_DSN"), schema=f"t_{uuid.uuid4().hex[:12]}")
    conninfo, schema, _ = pg_engine.parse_postgres_url(url)
    try:
        c = Coordinator(url)
        c.write(ALICE, "plan", 0, None, (b"v1", "str"), commit_id="c1")
        c.close()
        with psycopg.connect(conninfo, autocommit=True) as conn:  # back to schema 2
            conn.execute(f'DROP TABLE "{schema}".audit')
            conn.execute(f"UPDATE \"{schema}\".meta SET value = '2' WHERE key = 'schema_version'")
        c = Coordinator(url)
        try:
            assert c.artifact("plan").version == 1 and c.audit() == []
            c.write(ALICE, "plan", 1, 0, (b"v2", "str"), commit_id="c2")
            assert [(e.commit_id, e.version) for e in c.audit("plan")] == [("c2", 2)]
        finally:
            c.close()
        with psycopg.connect(conninfo, autocommit=True) as conn:
            assert conn.execute(f"SELECT value FROM \"{schema}\".meta WHERE key = 'schema_version'"
                                ).fetchone() == (str(pg_engine.SCHEMA_VERSION),)
    finally:
        drop_store(url)
