"""``MemoryRecord`` <-> stored JSON, and the filters and scoring CrewAI's LanceDB storage applies.

The version a record was read at travels in its metadata under ``ccs_version`` (like an ETag):
CrewAI's read-modify-writes (``Memory.update``: ``model_copy`` of the record read; consolidation:
a new record built with ``metadata=existing.metadata``) carry it to ``update``, which checks it.
It is never stored: the artifact's version is.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

VERSION_KEY = "ccs_version"


def to_json(record: Any) -> dict[str, Any]:
    metadata = {k: v for k, v in record.metadata.items() if k != VERSION_KEY}
    return {
        "id": record.id, "content": record.content, "scope": record.scope,
        "categories": list(record.categories), "metadata": metadata,
        "importance": record.importance, "created_at": record.created_at.isoformat(),
        "last_accessed": record.last_accessed.isoformat(),
        "embedding": None if record.embedding is None else list(record.embedding),
        "source": record.source, "private": record.private,
    }


def from_json(data: dict[str, Any], version: int) -> Any:
    from crewai.memory.types import MemoryRecord

    fields = dict(data)
    fields["created_at"] = datetime.fromisoformat(fields["created_at"])
    fields["last_accessed"] = datetime.fromisoformat(fields["last_accessed"])
    fields["metadata"] = {**fields.get("metadata", {}), VERSION_KEY: version}
    return MemoryRecord(**fields)


def base_version(record: Any) -> int | None:
    v = record.metadata.get(VERSION_KEY) if isinstance(record.metadata, dict) else None
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def norm_prefix(scope_prefix: str | None) -> str | None:
    """A scope prefix as LanceDB applies it: ``None`` for the root, else ``/a/b`` (no slash at the
    end, one at the start). Matching is by string prefix, as LanceDB's ``LIKE 'prefix%'``."""
    if scope_prefix is None or not scope_prefix.strip("/"):
        return None
    prefix = scope_prefix.rstrip("/")
    return prefix if prefix.startswith("/") else "/" + prefix


def matches(data: dict[str, Any], prefix: str | None, categories: list[str] | None = None,
            metadata_filter: dict[str, Any] | None = None, older_than: datetime | None = None) -> bool:
    if prefix is not None and not data["scope"].startswith(prefix):
        return False
    if categories and not any(c in data["categories"] for c in categories):
        return False
    if metadata_filter and not all(data["metadata"].get(k) == v for k, v in metadata_filter.items()):
        return False
    return not (older_than is not None and datetime.fromisoformat(data["created_at"]) >= older_than)


def cosine(a: list[float] | None, b: list[float] | None) -> float:
    """Cosine similarity clamped to [0, 1] (CrewAI's scores and thresholds are in that range);
    0 for a record without an embedding or of another dimension."""
    if not a or not b or len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    if na == 0 or nb == 0:
        return 0.0
    return max(0.0, min(1.0, dot / (na * nb)))
