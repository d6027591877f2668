"""Engines, selected by URL: ``memory://``, ``sqlite:///path/state.db``, ``redis://`` (``rediss://``
for TLS), ``postgresql://``."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from ccs.backends.base import Backend, agent_key, artifact_key, owns_key, owns_prefix
from ccs.protocol.errors import UnknownEngine

__all__ = ["Backend", "agent_key", "artifact_key", "open_backend", "owns_key", "owns_prefix",
           "redact_url"]


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, safe to put in an error message or a log."""
    try:
        parts = urlsplit(url)
        if parts.password is None and "password=" not in parts.query.lower():
            return url  # nothing to hide: as given (urlunsplit would turn "x://" into "x:")
        if parts.password is not None:
            host = parts.netloc.rsplit("@", 1)[1]
            parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
        if "password=" in parts.query.lower():
            parts = parts._replace(query=re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query))
        return urlunsplit(parts)
    except ValueError:
        return "<unparseable URL>"


def open_backend(url: str) -> Backend:
    if not isinstance(url, str) or "://" not in url:
        raise UnknownEngine("engine must be a URL such as memory:// or sqlite:///state.db, got "
                            f"{redact_url(url) if isinstance(url, str) else url!r}")
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from ccs.backends.memory import MemoryBackend
        return MemoryBackend(url)
    if scheme == "sqlite":
        from ccs.backends.sqlite import SqliteBackend
        return SqliteBackend(url)
    if scheme in {"redis", "rediss"}:  # rediss:// is Redis over TLS (redis-py's own scheme)
        try:
            from ccs.backends.redis import RedisBackend
        except ImportError as exc:
            raise UnknownEngine(
                f"{scheme}:// needs the extra: pip install 'agent-coherence[redis]' ({exc})") from exc
        return RedisBackend(url)
    if scheme in {"postgresql", "postgres"}:
        try:
            from ccs.backends.postgres import PostgresBackend
        except ImportError as exc:
            raise UnknownEngine(
                f"{scheme}:// needs the extra: pip install 'agent-coherence[postgres]' ({exc})") from exc
        return PostgresBackend(url)
    raise UnknownEngine(f"unknown engine {scheme!r} in {redact_url(url)!r}")
