"""Invalidation buses, selected by URL like engines."""

from __future__ import annotations

from ccs.bus.base import Bus
from ccs.bus.memory import MemoryBus
from ccs.protocol.errors import UnknownEngine

__all__ = ["Bus", "MemoryBus", "default_bus_for", "open_bus"]


def open_bus(url: str, backend=None) -> Bus:
    scheme = url.split("://", 1)[0].lower() if isinstance(url, str) and "://" in url else ""
    if scheme == "memory":
        return MemoryBus(url)
    if scheme == "sqlite":
        from ccs.bus.sqlite import SqliteBus
        return SqliteBus(backend)
    if scheme in {"redis", "rediss"}:
        from ccs.bus.redis import RedisBus
        return RedisBus(url)
    if scheme == "nats":
        from ccs.bus.nats import NatsBus
        return NatsBus(url)
    if scheme in {"postgresql", "postgres"}:
        from ccs.bus.postgres import PostgresBus
        return PostgresBus(url)
    from ccs.backends import redact_url
    shown = redact_url(url) if isinstance(url, str) else repr(url)
    raise UnknownEngine(f"unknown bus {shown!r}: use redis:// (rediss:// for TLS), postgresql://, nats:// or memory://")


def default_bus_for(backend) -> Bus:
    """The engine's own bus where it has one; in-process delivery otherwise."""
    url = getattr(backend, "url", "memory://")
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        from ccs.bus.sqlite import SqliteBus
        return SqliteBus(backend)
    if scheme in {"redis", "rediss", "postgresql", "postgres"}:
        try:
            return open_bus(url, backend)
        except ImportError:
            return MemoryBus()
    return MemoryBus()
