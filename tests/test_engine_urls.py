"""A malformed option in an engine URL is ``InvalidEngineOption`` (code ``invalid_engine_option``,
an ``UnknownEngine``), raised before any I/O: no schema created, no key written, no file made,
and the password never in the message."""

from __future__ import annotations

import uuid

import psycopg
import pytest
import redis

from ccs import CoherenceAdapterCore
from ccs.backends import open_backend
from ccs.bus import open_bus
from ccs.protocol.errors import InvalidEngineOption, UnknownEngine
from conformance.conftest import with_query
from conftest import service_url

PW = "s3cret-pw"


def refused(url: str, *, bus: bool = False) -> InvalidEngineOption:
    with pytest.raises(InvalidEngineOption) as err:
        open_bus(url) if bus else open_backend(url)
    e = err.value
    assert isinstance(e, UnknownEngine) and e.code == "invalid_engine_option" and not e.retryable
    assert PW not in e.to_json() and PW not in str(e)
    with pytest.raises(InvalidEngineOption):
        CoherenceAdapterCore(engine=url)
    return e


@pytest.mark.parametrize("option", ["pool_max=abc", "pool_max=0", "pool_min=5&pool_max=2", "pool_min=-1",
                                    "connect_timeout=abc", "no_such_libpq_option=1"])
def test_postgres_option(option):
    base = service_url("CCS_TEST_POSTGRES_DSN")
    schema = f"url_{uuid.uuid4().hex[:10]}"
    url = with_query(base.replace("://postgres@", f"://postgres:{PW}@"), schema=schema) + "&" + option
    err = refused(url)
    assert option.split("=")[0] in str(err) or "option" in str(err)
    refused(url, bus=True)
    with psycopg.connect(base.split("?")[0], autocommit=True) as conn:  # nothing was created
        assert conn.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
                            (schema,)).fetchall() == []


@pytest.mark.parametrize("url", [
    f"postgresql://u:{PW}@127.0.0.1:notaport/db",
    f"postgresql://u:{PW}@127.0.0.1:70000/db",
    f"redis://:{PW}@127.0.0.1:notaport/0",
])
def test_port_that_is_not_a_port(url):
    refused(url)


@pytest.mark.parametrize("option", ["socket_timeout=abc", "socket_connect_timeout=x", "no_such_option=1"])
def test_redis_option(option):
    prefix = f"url{uuid.uuid4().hex[:10]}"
    url = with_query(service_url("CCS_TEST_REDIS_URL").replace("redis://", f"redis://:{PW}@", 1),
                     prefix=prefix) + "&" + option
    refused(url)
    refused(url, bus=True)
    client = redis.Redis.from_url(service_url("CCS_TEST_REDIS_URL"))
    try:
        assert client.keys("{" + prefix + "}:*") == []
    finally:
        client.close()


@pytest.mark.parametrize("option", ["busy_timeout=abc", "busy_timeout=-1", "busy_timeout=nan",
                                    "synchronous=x"])
def test_sqlite_option(tmp_path, option):
    refused(f"sqlite:///{tmp_path}/state.db?{option}")
    assert list(tmp_path.iterdir()) == []


def test_valid_options_still_open(tmp_path):
    open_backend(f"sqlite:///{tmp_path}/state.db?busy_timeout=0.5&synchronous=full").close()
    url = with_query(service_url("CCS_TEST_POSTGRES_DSN"), schema=f"url_{uuid.uuid4().hex[:10]}",
                     pool_min="0", pool_max="2", connect_timeout="3")
    backend = open_backend(url)
    try:
        assert backend.keys("a/") == []
    finally:
        backend.drop_schema()
        backend.close()
    open_backend(with_query(service_url("CCS_TEST_REDIS_URL"), socket_timeout="5")).close()
