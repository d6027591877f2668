"""Content on a JSON wire (the MCP server, the HTTP server and its client): bytes travel as UTF-8
text when they are text, as standard base64 otherwise, and every string sent is valid UTF-8.

Pure: no I/O, stdlib only (the HTTP client imports it too).
"""

from __future__ import annotations

import base64
from typing import Any

from ccs.protocol.errors import InvalidValue

ENCODINGS = ("utf-8", "base64")
ENCODING_HINT = ("send text with encoding 'utf-8', or the file's bytes as standard base64 (A-Z a-z 0-9 + /, "
                 "padded with =) with encoding 'base64'; nothing was written")


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON, every string valid UTF-8 (a lone surrogate from a file name or
    an argument is escaped, not sent: it would fail the transport)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {json_safe(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return json_safe(str(value))


def content_fields(data: bytes | None) -> dict[str, Any]:
    """``exists``, ``content`` and ``encoding`` of some bytes (or of nothing)."""
    if data is None:
        return {"exists": False, "content": None, "encoding": None}
    try:
        return {"exists": True, "content": data.decode("utf-8"), "encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"exists": True, "content": base64.b64encode(data).decode("ascii"), "encoding": "base64"}


def content_bytes(content: Any, encoding: Any, artifact: Any = None, hint: str = ENCODING_HINT) -> bytes:
    """The bytes ``content`` stands for under ``encoding`` ('utf-8' or 'base64'), or
    ``InvalidValue`` naming what is wrong."""
    shown = artifact if isinstance(artifact, str) else None
    if not isinstance(content, str):
        raise InvalidValue(f"content must be a string, got {type(content).__name__}", artifact=shown,
                           recover=hint)
    if encoding == "utf-8":
        try:
            return content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidValue(f"content is not valid Unicode ({exc.reason})", artifact=shown,
                               recover=hint) from None
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=True)
        except ValueError as exc:
            reason = str(exc).strip().rstrip(".") or "undecodable"
            raise InvalidValue(f"content is not valid base64 ({reason})", artifact=shown,
                               recover=hint) from None
    raise InvalidValue(f"encoding must be 'utf-8' or 'base64', not {encoding!r:.40}", artifact=shown,
                       recover=hint)
