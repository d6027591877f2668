"""Bad input for the networked engines and buses: a typed error that names the URL with the
password redacted, and nothing half-written."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis

from ccs import CoherenceAdapterCore
from ccs.backends import open_backend
from ccs.backends.postgres import _SCHEMA_V1, SCHEMA_VERSION, parse_postgres_url
from ccs.protocol.errors import BackendUnavailable, CorruptState, SchemaTooNew, UnknownEngine
from conformance.conftest import drop_store, with_query
from conftest import service_url


def pg_url(**params: str) -> str:
    return with_query(service_url("CCS_TEST_POSTGRES_DSN"), schema=f"bad_{uuid.uuid4().hex[:10]}", **params)


def redis_url() -> str:
    return with_query(service_url("CCS_TEST_REDIS_URL"), prefix=f"bad{uuid.uuid4().hex[:10]}")


def pg(url: str):
    conninfo, schema, _ = parse_postgres_url(url)
    return psycopg.connect(conninfo, autocommit=True), schema


def raw_redis():
    return redis.Redis.from_url(service_url("CCS_TEST_REDIS_URL").split("?")[0])


@pytest.mark.parametrize("url", [
    "postgresql://ccs:s3cret-pw@127.0.0.1:1/test?schema=x&connect_timeout=2",
    "redis://:s3cret-pw@127.0.0.1:1/0",
])
def test_unreachable_server(url):
    with pytest.raises(BackendUnavailable) as err:
        open_backend(url)
    text = str(err.value) + err.value.to_json()
    assert "s3cret-pw" not in text and ":***@127.0.0.1:1" in text
    assert err.value.details["reason"] == "connection" and err.value.retryable


def test_wrong_credentials_postgres():
    parts = urlsplit(with_query(service_url("CCS_TEST_POSTGRES_DSN"), schema="bad_creds"))
    host = parts.netloc.rsplit("@", 1)[-1]
    url = urlunsplit(parts._replace(netloc=f"no_such_role_ccs:s3cret-pw@{host}"))
    with pytest.raises(BackendUnavailable) as err:
        open_backend(url)
    assert "s3cret-pw" not in err.value.to_json() and "no_such_role_ccs:***@" in str(err.value)
    assert err.value.details["reason"] == "authentication"
    conn, _ = pg(service_url("CCS_TEST_POSTGRES_DSN") + "?schema=bad_creds")
    with conn:
        assert conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = 'bad_creds'"
                            ).fetchall() == []


def test_wrong_credentials_redis():
    base = service_url("CCS_TEST_REDIS_URL")
    url = base.replace("redis://", "redis://no-such-user:s3cret-pw@", 1)
    with pytest.raises(BackendUnavailable) as err:
        open_backend(url)
    assert "s3cret-pw" not in err.value.to_json() and "no-such-user:***@" in str(err.value)
    assert err.value.details["reason"] == "authentication"


def test_postgres_schema_too_new_is_refused_untouched():
    url = pg_url()
    try:
        with CoherenceAdapterCore(engine=url) as core:
            core.agent("a").write("doc", "v1")
        conn, schema = pg(url)
        with conn:
            conn.execute(f"UPDATE {schema}.meta SET value = '99' WHERE key = 'schema_version'")
            before = conn.execute(f"SELECT key, body FROM {schema}.records ORDER BY key").fetchall()
            with pytest.raises(SchemaTooNew) as err:
                open_backend(url.replace("://postgres@", "://postgres:pw@"))
            assert "pw@" not in str(err.value) and schema in str(err.value) and "99" in str(err.value)
            assert conn.execute(f"SELECT key, body FROM {schema}.records ORDER BY key").fetchall() == before
            assert conn.execute(f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'"
                                ).fetchone() == ("99",)
    finally:
        drop_store(url)


def test_postgres_foreign_schema_is_refused_untouched():
    url = pg_url()
    conn, schema = pg(url)
    try:
        with conn:
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(f"CREATE TABLE {schema}.users (id int)")
            with pytest.raises(CorruptState) as err:
                open_backend(url)
            assert "another application" in str(err.value)
            tables = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                                  (schema,)).fetchall()
            assert tables == [("users",)]
    finally:
        drop_store(url)


def test_postgres_old_schema_is_upgraded_in_place():
    url = pg_url()
    conn, schema = pg(url)
    try:
        with conn:
            conn.execute(f"CREATE SCHEMA {schema}")
            for stmt in _SCHEMA_V1.format(s=schema).strip().split(";"):
                conn.execute(stmt)
            conn.execute(f"INSERT INTO {schema}.meta VALUES ('application', 'agent-coherence'), "
                         "('schema_version', '1')")
            conn.execute(f"INSERT INTO {schema}.blobs VALUES ('old', 'bytes')")
            backend = open_backend(url)
            try:
                assert backend.get_blob("old") == b"bytes"
                assert backend.blob_digests(stored_before=1.0) == {"old"}  # migrated rows count as old
            finally:
                backend.close()
            assert conn.execute(f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'"
                                ).fetchone() == (str(SCHEMA_VERSION),)
    finally:
        drop_store(url)


def test_redis_schema_too_new_and_foreign_prefix_are_refused_untouched():
    client = raw_redis()
    url = redis_url()
    prefix = url.rsplit("prefix=", 1)[1]
    try:
        meta = {"application": "agent-coherence", "schema_version": "7"}
        client.hset("{" + prefix + "}:meta", mapping=meta)
        with pytest.raises(SchemaTooNew) as err:
            open_backend(url)
        assert "7" in str(err.value) and prefix in str(err.value)
        assert client.keys("{" + prefix + "}:*") == [b"{" + prefix.encode() + b"}:meta"]
        client.delete("{" + prefix + "}:meta")
        client.zadd("{" + prefix + "}:idx", {"a/x": 0})  # records without a schema marker
        with pytest.raises(CorruptState):
            open_backend(url)
        assert client.keys("{" + prefix + "}:*") == [b"{" + prefix.encode() + b"}:idx"]
    finally:
        drop_store(url)
        client.close()


@pytest.mark.parametrize("url", [
    "postgresql://u:s3cret-pw@127.0.0.1/db?schema=Bad-Name",
    "redis://:s3cret-pw@127.0.0.1:6379/0?prefix={tag}",
    "nats://u:s3cret-pw@127.0.0.1:4222?subject=bad subject",
    "mysql://u:s3cret-pw@127.0.0.1/db",
])
def test_malformed_urls_are_refused_with_credentials_redacted(url):
    from ccs.bus import open_bus

    with pytest.raises(UnknownEngine) as err:
        open_bus(url) if url.startswith("nats") else open_backend(url)
    assert "s3cret-pw" not in err.value.to_json()


def test_unreachable_nats_bus():
    from ccs.bus import open_bus

    with pytest.raises(BackendUnavailable) as err:
        open_bus("nats://u:s3cret-pw@127.0.0.1:1")
    assert "s3cret-pw" not in str(err.value) and "127.0.0.1:1" in str(err.value)


def test_a_nats_server_that_never_answers_leaves_no_pending_task(monkeypatch, caplog):
    """A connect that times out is cancelled before the bus's loop closes: closing it destroys
    no pending task (asyncio logs "Task was destroyed but it is pending!" otherwise)."""
    import gc
    import logging
    import socket

    import ccs.bus.nats as nats_bus
    from ccs.bus import open_bus

    monkeypatch.setattr(nats_bus, "CONNECT_TIMEOUT", 0.3)
    with socket.socket() as silent:  # accepts the connection, never sends INFO
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with caplog.at_level(logging.ERROR, logger="asyncio"), pytest.raises(BackendUnavailable):
            open_bus(f"nats://127.0.0.1:{port}")
        gc.collect()
    assert not [r for r in caplog.records if "destroyed" in r.getMessage()]
