"""The engine contract: run a pure transition atomically over named records, store blobs by hash.

Keys are strings: ``a/<artifact id>`` for artifact records and ``g/<agent id>`` for agent
liveness records. ``transact(keys, fn)`` reads those records, calls ``fn(records)`` which returns
``(changes, result)``, and stores the changes only if no other transaction touched the keys
meanwhile. ``fn`` must be pure: an optimistic engine may call it more than once.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from ccs.protocol.errors import CorruptState
from ccs.protocol.records import AgentRecord, ArtifactRecord

R = TypeVar("R")
Record = ArtifactRecord | AgentRecord
TransactFn = Callable[[dict[str, Any]], tuple[Mapping[str, Any], R]]

ARTIFACT_PREFIX = "a/"
AGENT_PREFIX = "g/"


def artifact_key(artifact_id: str) -> str:
    return ARTIFACT_PREFIX + artifact_id


def agent_key(agent_id: str) -> str:
    return AGENT_PREFIX + agent_id


def encode_record(rec: Record) -> str:
    return json.dumps(rec.to_dict(), separators=(",", ":"))


def decode_record(key: str, text: str | bytes) -> Record:
    try:
        data = json.loads(text)
        if key.startswith(ARTIFACT_PREFIX):
            return ArtifactRecord.from_dict(data)
        return AgentRecord.from_dict(data)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise CorruptState(f"record {key!r} cannot be decoded: {exc}", artifact=key) from exc


class Backend(ABC):
    """A transactional record store plus a content-addressed blob store."""

    url: str = ""

    @abstractmethod
    def transact(self, keys: Sequence[str], fn: TransactFn[R]) -> R: ...

    @abstractmethod
    def get(self, key: str) -> Record | None:
        """A committed snapshot of one record, without taking part in any transaction."""

    @abstractmethod
    def keys(self, prefix: str) -> list[str]: ...

    @abstractmethod
    def put_blob(self, digest: str, data: bytes) -> None: ...

    @abstractmethod
    def get_blob(self, digest: str) -> bytes | None: ...

    @abstractmethod
    def blob_digests(self, stored_before: float | None = None) -> set[str]:
        """Digests of stored blobs; with ``stored_before`` (epoch seconds) only older ones."""

    @abstractmethod
    def delete_blobs(self, digests: Iterable[str]) -> int: ...

    def close(self) -> None:
        return None

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
