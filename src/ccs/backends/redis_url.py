"""Redis engine URLs and connections: ``redis://[:password@]host:6379/0?prefix=ccs``.

The options are checked, and a redis-py client built from them, before any I/O; connection
failures become ``BackendUnavailable`` with the password never shown.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ccs.backends import redact_url
from ccs.protocol.errors import BackendUnavailable, InvalidEngineOption, UnknownEngine

_PREFIX = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")


def parse_redis_url(url: str) -> tuple[str, str]:
    """Split a URL into (redis-py URL, key prefix)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UnknownEngine(f"malformed URL {redact_url(url)!r}: {exc}") from None
    if parts.scheme not in {"redis", "rediss"}:
        raise UnknownEngine(f"not a Redis URL: {redact_url(url)!r}")
    db = parts.path.strip("/")
    if db and not db.isdigit():  # redis-py would quietly use database 0 instead
        raise InvalidEngineOption(f"database {db!r} in {redact_url(url)!r} must be a number "
                                  "(redis://host:6379/0)", option="db")
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = dict(query).get("prefix", "ccs")
    if not _PREFIX.match(prefix):
        raise UnknownEngine(f"prefix={prefix!r} in {redact_url(url)!r}: use 1-100 of A-Z a-z 0-9 _ . : -")
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


def connect(url: str) -> tuple[redis.Redis, str]:
    """A redis-py client without automatic retries, and the key prefix, for ``url``.

    No I/O: a malformed option (``socket_timeout=abc``, a port that is not a number, an option
    redis-py does not know) is ``InvalidEngineOption`` here, not a ``ValueError`` later."""
    client_url, prefix = parse_redis_url(url)
    try:
        client = redis.Redis.from_url(client_url, retry=Retry(NoBackoff(), 0), socket_connect_timeout=5,
                                      socket_timeout=30, health_check_interval=0)
        pool = client.connection_pool
        pool.connection_class(**pool.connection_kwargs)  # builds, does not connect
    except (ValueError, TypeError) as exc:
        raise InvalidEngineOption(f"{redact_url(url)}: {redacted(str(exc), url)}",
                                  url=redact_url(url)) from exc
    return client, prefix


def redacted(text: str, url: str) -> str:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text


def unavailable(url: str, what: str, exc: BaseException, *, applied: bool | None = None
                ) -> BackendUnavailable:
    """``applied=False``: the failure is known to have changed nothing, and the hint says so."""
    reason = redacted(str(exc).strip() or type(exc).__name__, url)
    auth = isinstance(exc, redis.AuthenticationError) or any(
        w in reason for w in ("WRONGPASS", "NOAUTH", "AUTH", "NOPERM"))
    recover = "check the user name and password in the URL" if auth else \
        "check that the Redis server is reachable, then retry"
    return BackendUnavailable(
        f"{redact_url(url)}: {what}: {reason}", url=redact_url(url),
        reason="authentication" if auth else "connection",
        recover=recover + ("; nothing was applied" if applied is False else ""))
