"""The audit log every engine keeps: commits, refusals, reclaims and deletes, with their fields,
stored in the same engine transaction as the change (memory, sqlite, postgres, redis)."""

from __future__ import annotations

import hashlib
import time

import pytest

from ccs import (
    Coordinator,
    CrashRecoveryConfig,
    ManualClock,
    StaleView,
    TransactionConflict,
    failpoints,
)
from ccs.backends.base import Backend
from ccs.bus.memory import MemoryBus
from ccs.coordinator.config import Limits
from ccs.protocol.audit import AuditBatch, AuditEntry
from ccs.protocol.errors import (
    CoherenceError,
    GrantReclaimed,
    InvalidArgument,
    OutcomeUnknown,
    VersionConflict,
)

ALICE, BOB = "alice@0123456789ab", "bob@ba9876543210"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fields(e: AuditEntry) -> tuple:
    return (e.artifact, e.op, e.outcome, e.agent, e.base_version, e.version, e.epoch, e.code,
            e.commit_id)


def test_commits_are_logged_with_who_when_and_from_which_base(store):
    c = store.coordinator()
    t0 = time.time()
    c.write(ALICE, "plan", 0, None, (b"v1", "str"), commit_id="c1")
    c.write(BOB, "plan", 1, 0, (b"v2", "str"), commit_id="c2")
    c.commit_cas(ALICE, "plan", 2, 0, (b"v3", "str"), commit_id="c3")
    t1 = time.time()
    log = c.audit("plan")
    assert [fields(e) for e in log] == [
        ("plan", "write", "committed", ALICE, 0, 1, 0, "", "c1"),
        ("plan", "write", "committed", BOB, 1, 2, 0, "", "c2"),
        ("plan", "cas", "committed", ALICE, 2, 3, 0, "", "c3"),
    ]
    assert [e.digest for e in log] == [sha(b"v1"), sha(b"v2"), sha(b"v3")]
    assert all(t0 <= e.at <= t1 for e in log)
    assert [e.agent_name for e in log] == ["alice", "bob", "alice"]
    # another process (or host) reads the same log from the engine
    assert [fields(e) for e in store.coordinator().audit("plan")] == [fields(e) for e in log]


def test_stale_writes_are_refused_and_logged(store):
    c = store.coordinator()
    c.write(ALICE, "plan", 0, None, (b"v1", "str"), commit_id="c1")
    c.write(ALICE, "plan", 1, 0, (b"v2", "str"), commit_id="c2")
    with pytest.raises(StaleView):
        c.write(BOB, "plan", 1, 0, (b"from v1", "str"), commit_id="late")
    with pytest.raises(VersionConflict):
        c.commit_cas(BOB, "plan", 1, 0, (b"cas from v1", "str"), commit_id="late-cas")
    assert c.artifact("plan").version == 2
    refused = [e for e in c.audit("plan") if e.outcome == "refused"]
    assert [fields(e) for e in refused] == [
        ("plan", "write", "refused", BOB, 1, 2, 0, "stale_view", "late"),
        ("plan", "cas", "refused", BOB, 1, 2, 0, "version_conflict", "late-cas"),
    ]
    assert "version 2 was committed since" in refused[0].reason
    assert refused[0].digest is None
    # the log's order: each refusal after the commit of the version it was refused against
    assert [e.outcome for e in c.audit("plan")] == ["committed", "committed", "refused", "refused"]


def test_a_sweep_reclaim_and_the_fenced_writer_are_logged(store):
    clock = ManualClock()
    cr = CrashRecoveryConfig(heartbeat_ttl=10, sweep_interval=1000, auto_heartbeat=False)
    c = store.coordinator(clock=clock, crash_recovery=cr)
    c.write(ALICE, "lease", 0, None, (b"mine", "str"), commit_id="c1")
    clock.advance(11)
    notes = c.sweep()
    assert [(n.agent, n.artifact, n.new_epoch) for n in notes] == [(ALICE, "lease", 1)]
    with pytest.raises(GrantReclaimed):
        c.commit(ALICE, "lease", 0, 1, (b"late", "str"), commit_id="c2")
    log = c.audit("lease")
    assert [fields(e) for e in log] == [
        ("lease", "write", "committed", ALICE, 0, 1, 0, "", "c1"),
        ("lease", "sweep", "reclaimed", ALICE, 1, 1, 1, "", None),
        ("lease", "commit", "refused", ALICE, 1, 1, 1, "grant_reclaimed", "c2"),
    ]
    assert "no heartbeat" in log[1].reason
    assert log[1].at == clock.now()


def test_a_delete_is_logged(store):
    c = store.coordinator()
    c.write(ALICE, "tmp", 0, None, (b"x", "str"), commit_id="c1")
    c.write(BOB, "tmp", 1, 0, None, commit_id="del")
    last = c.audit("tmp")[-1]
    assert fields(last) == ("tmp", "write", "deleted", BOB, 1, 2, 0, "", "del")
    assert last.digest is None


def test_a_transaction_logs_each_write_and_a_refused_one_logs_no_commit(store):
    c = store.coordinator()
    c.write(ALICE, "a", 0, None, (b"a1", "str"), commit_id="c1")
    c.transaction_commit(BOB, {"a": (1, 0)}, {"a": (b"a2", "str"), "b": (b"b1", "str")},
                         commit_id="t1")
    txn = [e for e in c.audit() if e.commit_id == "t1"]
    assert sorted(fields(e) for e in txn) == [
        ("a", "transaction", "committed", BOB, 1, 2, 0, "", "t1"),
        ("b", "transaction", "committed", BOB, 0, 1, 0, "", "t1"),
    ]
    assert txn[0].at == txn[1].at
    with pytest.raises(TransactionConflict):  # read a at v1, which is no longer current
        c.transaction_commit(ALICE, {"a": (1, 0)}, {"a": (b"a3", "str"), "b": (b"b2", "str")},
                             commit_id="t2")
    t2 = [e for e in c.audit() if e.commit_id == "t2"]
    assert sorted(fields(e) for e in t2) == [
        ("a", "transaction", "refused", ALICE, 1, 2, 0, "transaction_conflict", "t2"),
        ("b", "transaction", "refused", ALICE, None, 1, 0, "transaction_conflict", "t2"),
    ]
    assert (c.artifact("a").version, c.artifact("b").version) == (2, 1)


def test_a_commit_the_engine_rolls_back_leaves_no_entry(store):
    """The entry travels in the commit's own engine transaction: no commit, no entry."""
    c = store.coordinator()
    c.write(ALICE, "doc", 0, None, (b"v1", "str"), commit_id="c1")

    def fail(**_):
        raise OSError("injected: the engine failed before the writes")

    with failpoints.armed({"backend.before_write": fail}), pytest.raises((OSError, CoherenceError)):
        c.write(ALICE, "doc", 1, 0, (b"v2", "str"), commit_id="c2")
    with failpoints.armed({"backend.before_write": fail}), pytest.raises((OSError, CoherenceError)):
        c.transaction_commit(BOB, {"doc": (1, 0)}, {"doc": (b"t", "str"), "new": (b"n", "str")},
                             commit_id="t1")
    assert c.artifact("doc").version == 1
    assert [e.commit_id for e in c.audit()] == ["c1"]


def test_the_engine_stores_entries_passed_with_a_transaction(store):
    """The contract itself: ``fn`` returns (changes, result, AuditBatch); an ``fn`` that raises
    stores neither its records nor its entries."""
    from ccs.backends.base import artifact_key
    from ccs.protocol.records import ArtifactRecord

    backend = store.backend()
    key = artifact_key("raw")
    entry = AuditEntry(123.0, "raw", "test", "committed", ALICE, 0, 1, 0, commit_id="x")

    def fn(records):
        return {key: ArtifactRecord("raw", version=1)}, "ok", AuditBatch((entry,), 10)

    assert backend.transact([key], fn) == "ok"
    assert backend.audit("raw") == [entry]

    def refusing(records):
        raise VersionConflict("no", artifact="raw")

    with pytest.raises(VersionConflict):
        backend.transact([key], refusing)
    backend.append_audit(AuditBatch((AuditEntry(124.0, "raw", "test", "refused", BOB, 0, 1, 0,
                                                 code="version_conflict"),), 10))
    assert [e.outcome for e in backend.audit("raw")] == ["committed", "refused"]
    assert backend.transact([key], lambda r: ({}, "two-tuple")) == "two-tuple"  # still accepted


def test_retention_keeps_the_latest_versions_of_each_artifact(store):
    c = store.coordinator(limits=Limits(audit_retain=3))
    for v in range(6):
        c.write(ALICE, "hot", v, None, (f"v{v + 1}".encode(), "str"), commit_id=f"h{v}")
    c.write(ALICE, "cold", 0, None, (b"c1", "str"), commit_id="cold")
    with pytest.raises(StaleView):
        c.write(BOB, "hot", 2, 0, (b"late", "str"), commit_id="late")
    assert [e.version for e in c.audit("hot")] == [4, 5, 6, 6]
    c.write(ALICE, "hot", 6, 0, (b"v7", "str"), commit_id="h6")
    assert [e.version for e in c.audit("hot")] == [5, 6, 6, 7]
    assert [e.commit_id for e in c.audit("cold")] == ["cold"]


def test_audit_retain_zero_keeps_no_log(store):
    c = store.coordinator(limits=Limits(audit_retain=0))
    c.write(ALICE, "quiet", 0, None, (b"x", "str"), commit_id="c1")
    with pytest.raises(StaleView):
        c.write(BOB, "quiet", 5, 0, (b"y", "str"))
    assert c.audit() == []


def test_reading_the_log_across_artifacts_since_and_limit(store):
    clock = ManualClock(start=time.time())
    c = store.coordinator(clock=clock)
    c.write(ALICE, "one", 0, None, (b"1", "str"), commit_id="a")
    clock.advance(10)
    middle = clock.now()
    c.write(BOB, "two", 0, None, (b"2", "str"), commit_id="b")
    clock.advance(10)
    c.write(ALICE, "one", 1, 0, (b"3", "str"), commit_id="c")
    assert [e.commit_id for e in c.audit()] == ["a", "b", "c"]
    assert [e.commit_id for e in c.audit(since=middle)] == ["b", "c"]
    assert [e.commit_id for e in c.audit(limit=2)] == ["b", "c"]
    assert [e.commit_id for e in c.audit("one", limit=1)] == ["c"]
    assert c.audit("never-written") == []
    with pytest.raises(InvalidArgument):
        c.audit(limit=-1)
    with pytest.raises(InvalidArgument):
        c.audit(since="yesterday")


def test_reads_grants_and_releases_log_nothing(store):
    c = store.coordinator()
    c.read(ALICE, "quiet")
    c.acquire(BOB, "quiet")
    c.release(BOB, "quiet")
    assert c.audit() == []


def test_the_log_survives_reopening(shared_store):
    c = shared_store.coordinator()
    c.write(ALICE, "kept", 0, None, (b"v1", "str"), commit_id="c1")
    with pytest.raises(StaleView):
        c.write(BOB, "kept", 7, 0, (b"x", "str"), commit_id="r1")
    before = [e.to_dict() for e in c.audit()]
    c.close()
    again = shared_store.coordinator()
    assert [e.to_dict() for e in again.audit()] == before
    assert [e.outcome for e in again.audit()] == ["committed", "refused"]


class _LosesReplies(Backend):
    """Every transaction lands, then its reply is lost (the connection dropped after COMMIT)."""

    def __init__(self, inner: Backend) -> None:
        self.inner, self.url = inner, inner.url

    def transact(self, keys, fn, blobs=None):
        self.inner.transact(keys, fn, blobs)
        raise OutcomeUnknown("injected: the commit landed, its reply was lost")

    def get(self, key):
        return self.inner.get(key)

    def keys(self, prefix):
        return self.inner.keys(prefix)

    def put_blob(self, digest, data):
        self.inner.put_blob(digest, data)

    def get_blob(self, digest):
        return self.inner.get_blob(digest)

    def blob_digests(self, stored_before=None):
        return self.inner.blob_digests(stored_before)

    def delete_blobs(self, digests):
        return self.inner.delete_blobs(digests)

    def collect_garbage(self, stored_before):
        return self.inner.collect_garbage(stored_before)

    def append_audit(self, batch):
        self.inner.append_audit(batch)

    def audit(self, artifact=None, since=None, limit=None):
        return self.inner.audit(artifact, since, limit)


def test_a_commit_whose_reply_was_lost_is_in_the_log(store):
    """The entry is part of the commit, not written after it: a commit that landed is logged
    even when its process never heard back (and the log names its commit id)."""
    c = Coordinator(_LosesReplies(store.backend()), bus=MemoryBus())
    with pytest.raises(OutcomeUnknown):
        c.write(ALICE, "doc", 0, None, (b"v1", "str"), commit_id="lost-reply")
    assert [fields(e) for e in store.coordinator().audit("doc")] == [
        ("doc", "write", "committed", ALICE, 0, 1, 0, "", "lost-reply")]
    c.close()
