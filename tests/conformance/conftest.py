"""One isolated store per test, for every engine: memory, sqlite, postgres and redis.

The ``store`` fixture is parametrized over all four engines; ``shared_store`` over the engines
that other processes can open (all but memory). PostgreSQL stores get their own schema and Redis
stores their own key prefix, dropped after the test, so tests never see each other's records.
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from ccs import CoherenceAdapterCore, Coordinator
from ccs.backends import open_backend
from ccs.backends.memory import MemoryBackend
from ccs.bus.memory import MemoryBus
from conftest import service_url

ENGINES = ("memory", "sqlite", "postgres", "redis")
SHARED_ENGINES = ("sqlite", "postgres", "redis")


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params] + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def drop_store(url: str) -> None:
    """Remove a PostgreSQL schema or a Redis prefix with the raw client (works whatever state it is in)."""
    if url.startswith("postgres"):
        import psycopg

        from ccs.backends.postgres import parse_postgres_url
        conninfo, schema, _ = parse_postgres_url(url)
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    elif url.startswith("redis"):
        from ccs.backends.redis import connect
        client, prefix = connect(url)
        keys = list(client.scan_iter(match="{" + prefix + "}:*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
        client.close()


class Store:
    """A fresh store of one engine; ``core()``/``coordinator()`` open clients on it, as if in
    another process (the memory engine shares one backend object and one bus instead)."""

    def __init__(self, kind: str, tmp_path) -> None:
        self.kind = kind
        tag = uuid.uuid4().hex[:12]
        self._backend = MemoryBackend() if kind == "memory" else None
        self._bus = MemoryBus() if kind == "memory" else None
        if kind == "memory":
            self.url = "memory://"
        elif kind == "sqlite":
            self.url = f"sqlite:///{tmp_path}/state-{tag}.db"
        elif kind == "postgres":
            self.url = with_query(service_url("CCS_TEST_POSTGRES_DSN"), schema=f"t_{tag}")
        elif kind == "redis":
            self.url = with_query(service_url("CCS_TEST_REDIS_URL"), prefix=f"t{tag}")
        else:
            raise ValueError(kind)
        self._opened: list = []

    @property
    def shared(self) -> bool:
        return self.kind != "memory"

    def engine(self):
        return self._backend if self._backend is not None else self.url

    def backend(self):
        if self._backend is not None:
            return self._backend
        b = open_backend(self.url)
        self._opened.append(b)
        return b

    def core(self, **kw) -> CoherenceAdapterCore:
        if self._bus is not None:
            kw.setdefault("bus", self._bus)
        core = CoherenceAdapterCore(engine=self.engine(), **kw)
        self._opened.append(core)
        return core

    def coordinator(self, **kw) -> Coordinator:
        if self._bus is not None:
            kw.setdefault("bus", self._bus)
        coord = Coordinator(self.engine(), **kw)
        self._opened.append(coord)
        return coord

    def cleanup(self) -> None:
        for thing in reversed(self._opened):
            with contextlib.suppress(Exception):
                thing.close()
        drop_store(self.url)


@pytest.fixture(params=ENGINES)
def store(request, tmp_path):
    s = Store(request.param, tmp_path)
    yield s
    s.cleanup()


@pytest.fixture(params=SHARED_ENGINES)
def shared_store(request, tmp_path):
    s = Store(request.param, tmp_path)
    yield s
    s.cleanup()


@pytest.fixture
def fine_grained_switching():
    """Switch threads often, so read -> commit windows really interleave under the GIL."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)
