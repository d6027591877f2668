"""``rediss://`` (Redis over TLS) is an engine and bus scheme, as the seed package documented:
it is parsed, reaches redis-py as an SSL connection, and an unreachable server is a typed
``backend_unavailable`` with the password redacted. No TLS server is needed."""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("redis")

import redis

from ccs import CoherenceAdapterCore
from ccs.backends import open_backend
from ccs.backends import redis as redis_backend
from ccs.bus import default_bus_for, open_bus
from ccs.protocol.errors import BackendUnavailable


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rediss_reaches_redis_py_with_ssl(monkeypatch):
    seen = []
    real = redis_backend.connect

    def spy(url):
        client, prefix = real(url)
        seen.append((client, prefix))
        return client, prefix

    monkeypatch.setattr(redis_backend, "connect", spy)
    url = f"rediss://:s3cret@127.0.0.1:{closed_port()}/2?prefix=team&ssl_cert_reqs=none"
    with pytest.raises(BackendUnavailable) as err:
        open_backend(url)
    client, prefix = seen[0]
    pool = client.connection_pool
    assert issubclass(pool.connection_class, redis.SSLConnection)
    assert pool.connection_kwargs["ssl_cert_reqs"] == "none" and pool.connection_kwargs["db"] == 2
    assert prefix == "team"
    assert err.value.code == "backend_unavailable" and "s3cret" not in str(err.value)
    assert "rediss://" in str(err.value)


def test_rediss_through_the_public_constructor_is_typed():
    with pytest.raises(BackendUnavailable):
        CoherenceAdapterCore(engine=f"rediss://127.0.0.1:{closed_port()}/0")


def test_rediss_bus_is_a_tls_redis_bus():
    bus = open_bus(f"rediss://127.0.0.1:{closed_port()}/0?prefix=p")
    try:
        assert type(bus).__name__ == "RedisBus" and bus.channel == "{p}:events"
        assert issubclass(bus._client.connection_pool.connection_class, redis.SSLConnection)
    finally:
        bus.close()

    class Fake:
        url = f"rediss://127.0.0.1:{closed_port()}/0"

    bus = default_bus_for(Fake())
    try:
        assert type(bus).__name__ == "RedisBus"
    finally:
        bus.close()
