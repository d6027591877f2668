"""Hostile values for the bad-input matrix, by kind. A value here is not necessarily invalid
(``"\\U0010ffff"`` is a fine identifier): the matrix asserts that every call either works or
raises a typed ``CoherenceError`` and writes nothing, never a bare exception."""

from __future__ import annotations

import math

from ccs import CoherenceError
from ccs.protocol.errors import ERRORS_BY_CODE


def nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = {"k": value}
    return value


WRONG_TYPES = {
    "None": None, "int": 5, "float": 1.5, "bool": True, "bytes": b"plan.md", "list": ["a"],
    "dict": {"a": 1}, "tuple": ("a",), "object": object(),
}
NUMBERS = {
    "negative": -1, "zero": 0, "huge": 2 ** 64, "nan": math.nan, "inf": math.inf, "-inf": -math.inf,
    "str number": "5", "float for int": 2.0, "bool": True, "None": None,
}
TEXTS = {
    "empty": "", "NUL": "a\x00b", "newline": "a\nb", "DEL": "a\x7fb", "lone surrogate": "a\ud800b",
    "max code point": "\U0010ffff", "max code point prefix": "\U0010ffffplan", "BMP max": "\uffff",
    "RTL override": "plan\u202egnp.exe", "zero width": "pl\u200ban", "combining": "e\u0301",
    "emoji": "\U0001f600", "4-byte x 1024": "\U0001f600" * 1024, "10k chars": "x" * 10_000,
    "spaces": "   ", "percent": "%2e%2e%2f", "backslash": "a\\b",
}
PATHS = {
    **{f"text {k}": v for k, v in TEXTS.items()},
    "dotdot": "../outside.md", "nested dotdot": "a/../../outside.md", "absolute": "/etc/passwd",
    "home": "~/x.md", "dot": ".", "state file": ".ccs/state.db", "state dir": ".ccs",
    "trailing slash": "plans/", "double slash": "plans//x.md", "windows drive": "C:\\x.md",
    "below a file": "existing.md/child.md", "long component": "a" * 300 + ".md",
    "deep": "/".join(["d"] * 200) + "/x.md",
}
VALUES = {
    "deep JSON": nested(5000), "int key": {1: "x"}, "tuple": (1, 2), "set": {1}, "NaN": math.nan,
    "inf in list": [math.inf], "object": object(), "lone surrogate": "a\ud800b",
    "lone surrogate in JSON key": {"\ud800": 1}, "huge": "x" * (17 * 1024 * 1024),
}


def attempt(call, before, after) -> object:
    """Run ``call``; a CoherenceError must carry a known code and leave ``after()`` == ``before``
    (except ``unknown_artifact`` from a read, which registers the reader as a sharer of "absent")."""
    try:
        return call()
    except CoherenceError as exc:
        assert exc.code in ERRORS_BY_CODE and exc.recover, repr(exc)
        if exc.code != "unknown_artifact":
            assert after() == before, f"{exc.code} but something was written"
        return exc
