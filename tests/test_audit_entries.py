"""Audit entries as data: encoding, order within an artifact, and batched trimming."""

from ccs.protocol.audit import AuditBatch, AuditEntry, select


def entry(version, outcome="committed", epoch=0, at=1.0, artifact="a"):
    return AuditEntry(at, artifact, "write", outcome, "w@0123456789ab", version - 1, version, epoch)


def test_an_entry_round_trips_through_json():
    e = AuditEntry(1.5, "plan.md", "cas", "refused", "w@0123456789ab", 3, 4, 1,
                   code="version_conflict", commit_id="c", reason="why", digest=None)
    assert AuditEntry.decode(e.encode()) == e
    assert e.to_dict()["agent_name"] == "w"


def test_order_comes_from_version_and_epoch_before_clocks():
    commit2 = entry(2, at=9.0)  # a host whose clock runs ahead
    refused_at_1 = entry(1, "refused", at=5.0)
    reclaim = entry(2, "reclaimed", epoch=1, at=1.0)
    refused_after_reclaim = entry(2, "refused", epoch=1, at=0.5)
    shuffled = [refused_after_reclaim, reclaim, commit2, refused_at_1, entry(1, at=8.0)]
    assert [(e.version, e.outcome, e.epoch) for e in select(shuffled, "a", None, None)] == [
        (1, "committed", 0), (1, "refused", 0), (2, "committed", 0), (2, "reclaimed", 1),
        (2, "refused", 1)]


def test_trimming_runs_in_batches_of_a_sixteenth_of_retain():
    assert AuditBatch((entry(5),), 3).trims() == {"a": 2}  # small retain: every version
    assert AuditBatch((entry(1000),), 1000).trims() == {}  # nothing old enough yet
    assert AuditBatch((entry(1001),), 1000).trims() == {}  # 1001 is not a multiple of 62
    assert AuditBatch((entry(1054),), 1000).trims() == {"a": 54}
    assert AuditBatch((entry(1054), entry(7, artifact="b")), 1000).trims() == {"a": 54}
