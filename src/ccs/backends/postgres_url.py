"""PostgreSQL engine URLs: ``postgresql://user:password@host:5432/dbname?schema=ccs&pool_max=8``.

Parsed and checked before any connection is made: a malformed option is ``InvalidEngineOption``
(or ``UnknownEngine`` for what is not a PostgreSQL URL at all), never a driver error later.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ccs.backends import redact_url
from ccs.protocol.errors import InvalidEngineOption, UnknownEngine

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_OWN_PARAMS = {"schema", "pool_min", "pool_max"}


def parse_postgres_url(url: str) -> tuple[str, str, dict[str, str]]:
    """Split a URL into (libpq conninfo URL, schema, our own options)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UnknownEngine(f"malformed URL {redact_url(url)!r}: {exc}") from None
    if parts.scheme not in {"postgresql", "postgres"}:
        raise UnknownEngine(f"not a PostgreSQL URL: {redact_url(url)!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {k: v for k, v in query if k in _OWN_PARAMS}
    rest = [(k, v) for k, v in query if k not in _OWN_PARAMS]
    if not any(k == "connect_timeout" for k, _ in rest):
        rest.append(("connect_timeout", "5"))
    schema = own.get("schema", "ccs")
    if not _IDENT.match(schema):
        raise UnknownEngine(f"schema={schema!r} in {redact_url(url)!r} must be a lower-case SQL "
                            "identifier (letters, digits, _)")
    conninfo = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(rest)))
    _check_options(url, conninfo, own)
    return conninfo, schema, own


def _check_options(url: str, conninfo: str, own: dict[str, str]) -> None:
    """Refuse a malformed option with ``InvalidEngineOption`` before any connection is made."""
    def bad(option: str, shown: str, why: str) -> InvalidEngineOption:
        password = urlsplit(url).password
        if password:
            why = why.replace(password, "***")
        return InvalidEngineOption(f"{shown} in {redact_url(url)!r}: {why}", option=option)

    sizes = {}
    for name, default, least in (("pool_min", "1", 0), ("pool_max", "8", 1)):
        value = own.get(name, default)
        if not value.isdigit() or int(value) < least:
            raise bad(name, f"{name}={value!r}", f"must be a whole number >= {least}")
        sizes[name] = int(value)
    if sizes["pool_min"] > sizes["pool_max"]:
        raise bad("pool_min", f"pool_min={sizes['pool_min']}",
                  f"must not exceed pool_max={sizes['pool_max']}")
    try:
        params = conninfo_to_dict(conninfo)  # libpq's own parser: no I/O
    except psycopg.Error as exc:
        raise bad("url", "an option", str(exc).strip() or type(exc).__name__) from None
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise bad("port", f"port {port!r}", "must be a number from 1 to 65535")
    timeout = str(params.get("connect_timeout", "5"))
    if not timeout.lstrip("-").isdigit():
        raise bad("connect_timeout", f"connect_timeout={timeout!r}", "must be a whole number of seconds")
