"""How the store calls its agents: every call on one agent goes through that agent's lock.

Parallel ``Send`` tasks of one node share the agent (and its cache), and the lock keeps an older
fetch from overwriting a newer commit in it. Critical sections are one cache lookup or one engine
operation, never user code.
"""

from __future__ import annotations

import threading
from typing import Any

from ccs.client.agent import Agent, Entry
from ccs.protocol.messages import Committed


def lock_of(agent: Agent) -> threading.RLock:
    return agent.lock


def view(agent: Agent, artifact_id: str, *, lock: threading.RLock, fresh: bool = False) -> Entry:
    """The entry a read is served from (see ``Agent.view``); the store keys its decoded documents
    by the entry's content hash."""
    with lock:
        return agent.view(artifact_id, fresh=fresh)


def commit(agent: Agent, lock: threading.RLock, artifact_id: str, expected_version: int,
           payload: bytes | None) -> Committed:
    """Lands ``payload`` (None deletes) only if the artifact is still at ``expected_version``, the
    version the caller's *view scope* saw (which may differ from the agent's shared cache).

    Raises ``VersionConflict`` otherwise (the store turns it into ``StaleView``), ``StaleEpoch`` /
    ``GrantReclaimed`` if crash recovery fenced the view meanwhile."""
    with lock:
        body = None if payload is None else (payload, "bytes")
        return agent.commit_payload(artifact_id, expected_version, body)


def blind_write(agent: Agent, lock: threading.RLock, artifact_id: str, payload: bytes) -> Any:
    """Last-write-wins write (used only for TTL side artifacts, never for items)."""
    with lock:
        return agent.write(artifact_id, payload, blind=True)
