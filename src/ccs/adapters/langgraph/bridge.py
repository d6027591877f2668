"""The few things the store needs from an ``Agent`` beyond its public methods, in one place.

* :func:`view` — the agent's copy when the strategy may serve it (a cache hit: no engine call,
  no hash, no copy), else a fetch from the engine; returns the cache ``Entry`` itself so the store
  can key its decoded documents by content hash;
* :func:`commit` — compare-and-set of new content (or a delete) against an exact version, the one
  the caller's *view scope* saw, which may differ from the version in the agent's shared cache.

Every call on one agent goes through that agent's lock: parallel ``Send`` tasks of one node share
the agent (and its cache), and the lock keeps an older fetch from overwriting a newer commit in it.
Critical sections are one cache lookup or one engine operation, never user code.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from ccs.backends.memory import MemoryBackend
from ccs.client.agent import Agent, Entry
from ccs.protocol.errors import ConflictError
from ccs.protocol.messages import Committed

_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def lock_of(agent: Agent) -> threading.Lock:
    lock = _locks.get(id(agent))
    if lock is None:
        with _locks_guard:
            lock = _locks.setdefault(id(agent), threading.Lock())
    return lock


def view(agent: Agent, artifact_id: str, *, lock: threading.Lock, fresh: bool = False) -> Entry:
    """The entry a read is served from: the cached copy when the strategy serves it, else fetched."""
    with lock:
        entry = agent._cache.get(artifact_id)
        if (not fresh and entry is not None and entry.valid
                and (agent._plain or agent._serves(entry))):
            entry.hits += 1
            agent.stats.hits += 1
            return entry
        return agent._fetch(artifact_id, acquire=False)


def commit(agent: Agent, lock: threading.Lock, artifact_id: str, expected_version: int,
           payload: bytes | None) -> Committed:
    """Lands ``payload`` (None deletes) only if the artifact is still at ``expected_version``.

    Raises ``VersionConflict`` otherwise (the store turns it into ``StaleView``), ``StaleEpoch`` /
    ``GrantReclaimed`` if crash recovery fenced the view meanwhile."""
    coordinator = agent.coordinator
    with lock:
        entry = agent._cache.get(artifact_id)
        epoch = entry.epoch if entry is not None and entry.version == expected_version else None
        body = None if payload is None else (payload, "bytes")
        # An idempotency id lets call_with_retry resend a commit whose reply was lost; the
        # in-process engine cannot lose a reply, so it is skipped there (it costs ~10% of a put).
        commit_id = None if isinstance(coordinator.backend, MemoryBackend) else uuid.uuid4().hex
        try:
            c = agent.core.call_with_retry(lambda: coordinator.commit_cas(
                agent.name, artifact_id, expected_version, epoch, body, commit_id))
        except ConflictError:
            agent.stats.conflicts += 1
            if entry is not None:
                entry.valid = False
            raise
        agent.stats.commits += 1
        owner = entry is not None and entry.state.value in ("E", "M")
        if payload is None:
            agent._install_commit(artifact_id, c, b"", "deleted", None, owner=owner)
        else:
            agent._install_commit(artifact_id, c, payload, "bytes", payload, owner=owner)
        return c


def blind_write(agent: Agent, lock: threading.Lock, artifact_id: str, payload: bytes) -> Any:
    """Last-write-wins write (used only for TTL side artifacts, never for items)."""
    with lock:
        return agent.write(artifact_id, payload, blind=True)
