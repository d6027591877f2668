"""What an agent's cache holds (``Entry``), what its versioned reads return (``Versioned``), its
counters, and the idempotency ids its commits carry."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import Any

import msgspec

from ccs.protocol.errors import InvalidIdentifier
from ccs.protocol.ids import check_artifact_id
from ccs.protocol.messages import View
from ccs.protocol.records import Content, Mesi

MISSING: Any = object()

_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count()


def _new_id_prefix() -> None:
    """A forked child must not reuse its parent's ids: a duplicate id reads as 'already applied'."""
    global _ID_PREFIX
    _ID_PREFIX = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_id_prefix)


def bad_id(artifact_id: object) -> Exception:
    """The error for an artifact id a cache lookup could not even hash (a list, ...)."""
    try:
        check_artifact_id(artifact_id)
    except InvalidIdentifier as err:
        return err
    return InvalidIdentifier(f"invalid artifact id {artifact_id!r}")


def new_commit_id() -> str:
    """Unique per logical commit across processes: a random per-process prefix and a counter."""
    return f"{_ID_PREFIX}-{next(_ID_COUNTER)}"


class Entry(msgspec.Struct):
    """One artifact in an agent's cache. Mutable (an invalidation, a hit or a downgrade changes
    it in place); a msgspec struct so that installing one after every commit and fetch is a C
    call, not a Python ``__init__``."""

    version: int
    epoch: int
    seq: int
    content: Content
    data: bytes | None
    value: Any
    valid: bool
    state: Mesi  # E, M or S: the grant as this agent last saw it
    validated_at: float
    hits: int = 0
    # eager: the newer version fetched when the invalidation arrived, installed at the next read.
    # It must not replace the entry before that: a write's base is the version the agent read.
    prefetched: tuple[View, bytes | None] | None = None


@dataclass(frozen=True, slots=True)
class Versioned:
    value: Any
    version: int
    epoch: int
    absent: bool | None = None  # None: absent when there is no value

    @property
    def exists(self) -> bool:
        if self.absent is not None:
            return not self.absent
        return self.version > 0 and self.value is not None


@dataclass(slots=True)
class AgentStats:
    hits: int = 0
    misses: int = 0
    not_modified: int = 0
    bytes_fetched: int = 0
    invalidations: int = 0
    commits: int = 0
    conflicts: int = 0
