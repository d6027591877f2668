"""How an artifact maps to AutoGen's ``MemoryContent`` and back.

| artifact value                       | ``mime_type``              | ``content``                  |
|--------------------------------------|----------------------------|------------------------------|
| ``str``, id ending ``.md``/``.markdown`` | ``text/markdown``      | the text                     |
| other ``str``                        | ``text/plain``             | the text                     |
| JSON object                          | ``application/json``       | the ``dict`` (a copy)        |
| other JSON value (list, number, ...) | ``application/json``       | its JSON text                |
| ``bytes``                            | ``application/octet-stream`` | the bytes                  |

``metadata`` carries ``artifact`` (the id), ``version`` and ``source="ccs"``. Going the other
way (``add``), text and markdown are stored as ``str``, JSON as the decoded value (a ``str``
content is parsed), binary as ``bytes``; an image is refused.
"""

from __future__ import annotations

import json
from typing import Any

from ccs.protocol.errors import InvalidArgument

TEXT = "text/plain"
MARKDOWN = "text/markdown"
JSON = "application/json"
BINARY = "application/octet-stream"


def mime_of(artifact: str, value: Any) -> str:
    if isinstance(value, str):
        return MARKDOWN if artifact.lower().endswith((".md", ".markdown")) else TEXT
    if isinstance(value, bytes | bytearray):
        return BINARY
    return JSON


def content_of(value: Any) -> str | bytes | dict[str, Any]:
    """``MemoryContent.content`` for a stored value (which must be str, bytes or dict)."""
    if isinstance(value, str | dict):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def value_of(content: Any, mime_type: Any) -> Any:
    """The value to store for a ``MemoryContent``'s ``content`` and ``mime_type``."""
    mime = getattr(mime_type, "value", mime_type)
    if mime in (TEXT, MARKDOWN):
        if isinstance(content, bytes):
            return content.decode("utf-8")
        if not isinstance(content, str):
            raise InvalidArgument(f"{mime} content must be text, got {type(content).__name__}",
                                  parameter="content")
        return content
    if mime == JSON:
        if isinstance(content, str | bytes):
            try:
                return json.loads(content)
            except ValueError as exc:
                raise InvalidArgument(f"application/json content is not JSON: {exc}",
                                      parameter="content") from None
        return content
    if mime == BINARY:
        if isinstance(content, str):
            return content.encode("utf-8")
        if isinstance(content, bytes):
            return content
    raise InvalidArgument(f"cannot store {type(content).__name__} content of type {mime!r}; "
                          "use text/plain, text/markdown, application/json or "
                          "application/octet-stream", parameter="mime_type")


def memory_content(artifact: str, value: Any, version: int, **extra: Any) -> Any:
    from autogen_core.memory import MemoryContent

    return MemoryContent(content=content_of(value), mime_type=mime_of(artifact, value),
                         metadata={"artifact": artifact, "version": version, "source": "ccs",
                                   **extra})
