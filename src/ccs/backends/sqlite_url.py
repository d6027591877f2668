"""The SQLite engine's URL: ``sqlite:///rel/state.db`` or ``sqlite:////abs/state.db``, with
``busy_timeout`` (seconds) and ``synchronous`` (a SQLite setting) checked before anything is
opened."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

from ccs.backends import redact_url
from ccs.protocol.errors import InvalidEngineOption, UnknownEngine

SYNCHRONOUS = {"OFF", "NORMAL", "FULL", "EXTRA"}


def sqlite_path(url: str) -> tuple[str, dict[str, str]]:
    """``sqlite:///rel/state.db`` is relative, ``sqlite:////abs/state.db`` is absolute."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise UnknownEngine(f"malformed URL {redact_url(url)!r}: {exc}") from None
    if parts.scheme != "sqlite" or not url.startswith("sqlite:///"):
        raise UnknownEngine(f"not a sqlite URL: {url!r} (expected sqlite:///path/state.db)")
    path = url[len("sqlite:///"):].split("?", 1)[0]
    if not path:
        raise UnknownEngine(f"sqlite URL without a path: {url!r}")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise UnknownEngine(f"the path in {url!r} is not valid Unicode (a lone surrogate)") from None
    if "\x00" in path:
        raise UnknownEngine(f"the path in {url!r} contains a NUL character")
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    check_options(url, params.get("busy_timeout"), params.get("synchronous"))
    return path, params


def check_options(url: str, busy_timeout: object, synchronous: object) -> None:
    """Refuse a malformed ``busy_timeout`` or ``synchronous`` before anything is opened."""
    if busy_timeout is not None:
        try:
            seconds = float(busy_timeout)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            seconds = -1.0
        if not (math.isfinite(seconds) and seconds >= 0):
            raise InvalidEngineOption(f"busy_timeout={busy_timeout!r} in {url!r} must be a number of "
                                      "seconds >= 0", option="busy_timeout")
    if synchronous is not None and str(synchronous).upper() not in SYNCHRONOUS:
        raise InvalidEngineOption(f"synchronous={synchronous!r} in {url!r} is not a SQLite setting "
                                  f"(one of {', '.join(sorted(SYNCHRONOUS))})", option="synchronous")
