"""Multi-artifact transactions: a read set and a write set, committed all-or-nothing.

The commit lands only if every artifact the transaction read (or writes) is still at the version
and epoch it was seen at: serializable. Otherwise ``TransactionConflict`` lists every artifact that
moved and nothing is applied.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ccs import failpoints
from ccs.client.codec import encode
from ccs.client.entries import MISSING, new_commit_id
from ccs.protocol.errors import ConflictError, InvalidRequest, OutcomeUnknown, UnknownArtifact
from ccs.protocol.ids import check_artifact_id
from ccs.protocol.messages import TxnCommitted

if TYPE_CHECKING:
    from ccs.client.agent import Agent


class Transaction:
    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.reads: dict[str, tuple[int, int | None]] = {}
        self._values: dict[str, Any] = {}
        self.writes: dict[str, tuple[bytes, str] | None] = {}
        self.result: TxnCommitted | None = None
        self._done = False

    def read(self, artifact_id: str, default: Any = MISSING) -> Any:
        """Read within the transaction: the first read of an artifact fixes the version the
        commit will be checked against; later reads (and reads of its own writes) repeat it."""
        check_artifact_id(artifact_id)
        if artifact_id not in self._values:
            snap = self.agent.snapshot(artifact_id, None)
            self.reads.setdefault(artifact_id, (snap.version, snap.epoch))
            self._values[artifact_id] = snap.value
        value = self._values[artifact_id]
        if value is None:
            if default is MISSING:
                raise UnknownArtifact(f"{artifact_id!r} does not exist", artifact=artifact_id,
                                      current_version=self.reads[artifact_id][0])
            return default
        return copy.deepcopy(value)

    def write(self, artifact_id: str, value: Any) -> None:
        self.writes[check_artifact_id(artifact_id)] = encode(value, artifact_id)
        self._base(artifact_id)
        self._values[artifact_id] = copy.deepcopy(value)

    def delete(self, artifact_id: str) -> None:
        self.writes[check_artifact_id(artifact_id)] = None
        self._base(artifact_id)
        self._values[artifact_id] = None

    def _base(self, artifact_id: str) -> None:
        if artifact_id in self.reads:
            return
        entry = self.agent._cache.get(artifact_id)
        self.reads[artifact_id] = (0, None) if entry is None else (entry.version, entry.epoch)

    def commit(self) -> TxnCommitted:
        if self._done:
            raise InvalidRequest("transaction already finished")
        self._done = True
        agent = self.agent
        commit_id = new_commit_id()
        failpoints.hit("client.before_commit", agent=agent, artifact=next(iter(self.writes), ""))
        try:
            self.result = agent.core.call_with_retry(lambda: agent.coordinator.transaction_commit(
                agent.id, self.reads, self.writes, commit_id))
        except (ConflictError, OutcomeUnknown) as exc:  # unknown: it may have landed, revalidate
            agent.stats.conflicts += isinstance(exc, ConflictError)
            for aid in self.reads:
                entry = agent._cache.get(aid)
                if entry is not None:
                    entry.valid = False
                    entry.prefetched = None
            raise
        for aid, committed in self.result.versions.items():
            payload = self.writes[aid]
            data, kind = (b"", "deleted") if payload is None else payload
            value = data.decode() if kind == "str" else data
            agent._install_commit(aid, committed, data, kind, value, owner=False)
        agent.stats.commits += 1
        return self.result

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None and not self._done:
            self.commit()
        self._done = True
