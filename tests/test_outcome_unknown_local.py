"""The client's side of an unknown outcome, without servers (the real faults are in
``test_outcome_unknown.py``): what a retry may conclude, and SQLite's error on ``COMMIT``."""

from __future__ import annotations

import sqlite3

import pytest

from ccs import CoherenceAdapterCore, Coordinator, StaleView
from ccs.backends.memory import MemoryBackend
from ccs.protocol.errors import OutcomeUnknown, VersionConflict
from ccs.protocol.transitions import RECENT_COMMIT_IDS


class LosesReplies(MemoryBackend):
    """Applies a commit, then reports that its outcome is unknown ``lose`` times."""

    lose = 0

    def transact(self, keys, fn, blobs=None):
        result = super().transact(keys, fn, blobs)
        if self.lose:
            self.lose -= 1
            raise OutcomeUnknown("reply lost")
        return result


def test_a_refusal_proves_the_id_never_landed_only_while_the_record_remembers(clock):
    coord = Coordinator("memory://", clock=clock)
    for v in range(RECENT_COMMIT_IDS + 8):
        coord.commit_cas("p", "doc", v, None, (b"x", "bytes"), commit_id=f"p{v}")
    oldest = RECENT_COMMIT_IDS + 8 - RECENT_COMMIT_IDS + 1  # version of the oldest id remembered
    with pytest.raises(VersionConflict) as remembered:
        coord.commit_cas("a", "doc", oldest - 1, None, (b"y", "bytes"), commit_id="mine")
    assert remembered.value.details["id_forgotten"] is False
    with pytest.raises(VersionConflict) as forgotten:
        coord.commit_cas("a", "doc", oldest - 2, None, (b"y", "bytes"), commit_id="mine")
    assert forgotten.value.details["id_forgotten"] is True


def test_retry_after_an_unknown_outcome_reports_the_commit_once(clock):
    backend = LosesReplies()
    core = CoherenceAdapterCore(engine=backend, clock=clock)
    agent = core.agent("a")
    agent.write("doc", 1)
    backend.lose = 1
    assert agent.write("doc", 2) == 2 and agent.write_cas("doc", lambda n: n + 1) == 3
    rec = core.coordinator.artifact("doc")
    assert rec.version == 3 and [v for _, v, _ in rec.commits] == [1, 2, 3]


def test_retries_exhausted_while_unknown_raise_outcome_unknown_with_the_commit_id(clock):
    backend = LosesReplies()
    core = CoherenceAdapterCore(engine=backend, clock=clock, unavailable_retries=2)
    agent = core.agent("a")
    agent.write("doc", 1)
    backend.lose = 3
    with pytest.raises(OutcomeUnknown) as err:
        agent.write("doc", 2)
    cid = err.value.details["commit_id"]
    assert core.coordinator.artifact("doc").committed(cid) == (2, 0)
    assert agent.read("doc") == 2  # the cached copy of version 1 was not trusted


def test_forgotten_id_turns_the_retrys_conflict_into_outcome_unknown(clock):
    class PeersInBetween(MemoryBackend):
        armed = False

        def transact(self, keys, fn, blobs=None):
            result = super().transact(keys, fn, blobs)
            if self.armed:
                self.armed = False
                for v in range(RECENT_COMMIT_IDS):  # push our id out of the record's memory
                    peer.commit_cas("p", "doc", 2 + v, None, (b"9", "json"), commit_id=f"p{v}")
                raise OutcomeUnknown("reply lost")
            return result

    backend = PeersInBetween()
    core = CoherenceAdapterCore(engine=backend, clock=clock)
    peer = Coordinator(backend, clock=clock)
    agent = core.agent("a")
    agent.write("doc", 1)
    backend.armed = True
    with pytest.raises(OutcomeUnknown) as err:
        agent.write("doc", 2)
    assert err.value.details["last_error"]["code"] == "stale_view"
    backend.armed = False
    agent.read("doc")
    peer.commit_cas("p", "doc", 2 + RECENT_COMMIT_IDS, None, (b"9", "json"))
    with pytest.raises(StaleView):  # no unknown outcome before it: a plain conflict
        agent.write("doc", 3)


def test_sqlite_error_on_commit_itself_is_outcome_unknown(tmp_path, monkeypatch):
    """SQLite reports an error after COMMIT went through (simulated: real I/O errors at that
    point need a failing disk): the engine cannot tell, says so, and the retry settles it."""
    armed = []

    class FailsAfterCommit(sqlite3.Connection):
        def execute(self, sql, *args):
            cursor = super().execute(sql, *args)
            if sql == "COMMIT" and armed:
                armed.pop()
                raise sqlite3.OperationalError("disk I/O error")
            return cursor

    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **kw: connect(*a, factory=FailsAfterCommit, **kw))
    url = f"sqlite:///{tmp_path}/state.db"
    core = CoherenceAdapterCore(engine=url, unavailable_retries=0)
    agent = core.agent("a")
    agent.write("doc", 1)
    armed.append(1)
    with pytest.raises(OutcomeUnknown) as err:
        agent.write("doc", 2)
    assert core.coordinator.artifact("doc").committed(err.value.details["commit_id"]) == (2, 0)
    retrying = CoherenceAdapterCore(engine=url, unavailable_retries=1).agent("b")
    retrying.read("doc")
    armed.append(1)
    assert retrying.write("doc", 3) == 3 and core.coordinator.artifact("doc").version == 3
    core.close()
