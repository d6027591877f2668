"""Values agents share: bytes, str, or JSON values, stored with their kind.

A JSON value must come back exactly as it went in: ``{1: "x"}`` would come back as ``{"1": "x"}``
and a tuple as a list, so both are refused rather than silently changed, as are NaN, infinities,
and nesting deeper than ``MAX_JSON_DEPTH``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from ccs.protocol.errors import InvalidValue

MAX_JSON_DEPTH = 256
_SCALARS = (str, int, bool, type(None))


def encode(value: Any, artifact: str | None = None) -> tuple[bytes, str]:
    text = value.__class__ is str  # the common kind, by exact class first
    if not text and isinstance(value, bytes | bytearray | memoryview):
        return bytes(value), "bytes"
    if text or isinstance(value, str):
        try:
            return value.encode("utf-8"), "str"
        except UnicodeEncodeError as exc:
            raise InvalidValue(f"text is not valid Unicode (a lone surrogate at {exc.start})",
                               artifact=artifact) from None
    check_json_value(value, artifact)
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8"), "json"


def check_json_value(value: Any, artifact: str | None = None) -> None:
    """Raise ``InvalidValue`` unless ``value`` is a JSON value that round-trips unchanged."""
    stack: list[tuple[Any, str, int]] = [(value, "$", 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, _SCALARS):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidValue(f"{where} is {item}, which JSON cannot represent", artifact=artifact,
                                   path=where)
            continue
        if depth >= MAX_JSON_DEPTH:
            raise InvalidValue(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep",
                               artifact=artifact, path=where)
        if isinstance(item, dict):
            for key, sub in item.items():
                if not isinstance(key, str):
                    raise InvalidValue(
                        f"{where} has a {type(key).__name__} key {key!r}; JSON keys are strings "
                        f"(it would come back as {json.dumps(str(key))})", artifact=artifact, path=where)
                stack.append((sub, f"{where}.{key}", depth + 1))
        elif isinstance(item, list):
            stack.extend((sub, f"{where}[{i}]", depth + 1) for i, sub in enumerate(item))
        else:
            hint = " (it would come back as a list)" if isinstance(item, tuple) else ""
            raise InvalidValue(f"cannot store a {type(item).__name__} at {where}{hint}: pass bytes, "
                               "str, or JSON values (dict with str keys, list, str, number, bool, None)",
                               artifact=artifact, path=where)


def decode(data: bytes | None, kind: str) -> Any:
    if data is None or kind == "deleted":
        return None
    if kind == "bytes":
        return data
    if kind == "str":
        return data.decode("utf-8")
    return json.loads(data)


def is_immutable(kind: str) -> bool:
    return kind in ("bytes", "str", "deleted")
