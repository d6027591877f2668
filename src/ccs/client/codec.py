"""Values agents share: bytes, str, or JSON-serializable objects, stored with their kind."""

from __future__ import annotations

import json
from typing import Any

from ccs.protocol.errors import InvalidValue


def encode(value: Any, artifact: str | None = None) -> tuple[bytes, str]:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value), "bytes"
    if isinstance(value, str):
        return value.encode("utf-8"), "str"
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"),
                          allow_nan=False).encode("utf-8"), "json"
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"cannot store a {type(value).__name__}: {exc}", artifact=artifact) from exc


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
