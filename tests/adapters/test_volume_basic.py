"""CoherentVolume in one process, several volumes (agents) on one root: stale writes refused and
never reaching disk, foreign edits detected, atomic multi-file publish, configuration checks."""

from __future__ import annotations

import os

import pytest

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.adapters.coherent_volume.materialize import PathLock
from ccs.protocol.errors import (
    BackendUnavailable,
    ConfigurationMismatch,
    ForeignEdit,
    RetriesExhausted,
    StaleView,
    TransactionConflict,
    UnknownArtifact,
    VersionConflict,
)

P = "plans/plan.md"


@pytest.fixture
def root(tmp_path):
    return tmp_path


@pytest.fixture
def pair(root):
    a = CoherentVolume(root, managed=("plans/**",), agent="a")
    b = CoherentVolume(root, managed=("plans/**",), agent="b")
    yield a, b
    a.close()
    b.close()


def disk(root, path=P):
    p = root / path
    return p.read_bytes() if p.exists() else None


def test_stale_write_refused_and_file_untouched(pair, root):
    a, b = pair
    assert a.write(P, "v1\n") == 1
    assert b.read(P) == "v1\n"
    assert a.read(P) == "v1\n"
    assert b.write(P, "v1\nb\n") == 2
    stat = os.stat(root / P)
    with pytest.raises(StaleView) as info:
        a.write(P, "v1\na\n")
    err = info.value.to_dict()
    assert err["code"] == "stale_view" and err["current_version"] == 2 and err["recover"]
    assert disk(root) == b"v1\nb\n"
    assert os.stat(root / P).st_ino == stat.st_ino  # not even rewritten
    assert a.reacquire(P) == "v1\nb\n"
    assert a.write(P, "v1\nb\na\n") == 3
    assert disk(root) == b"v1\nb\na\n"


def test_create_over_existing_file_by_peer_is_stale(pair, root):
    a, b = pair
    a.write(P, "a")
    with pytest.raises(StaleView):
        b.write(P, "b")  # b never read it: its view is "absent"
    assert disk(root) == b"a"


def test_foreign_edit_refused_then_adopted_by_read(pair, root):
    a, b = pair
    a.write(P, "v1")
    assert b.read(P) == "v1"
    with open(root / P, "w") as f:  # an editor / formatter / script, not the volume
        f.write("edited by hand")
    for vol in (a, b):
        with pytest.raises(ForeignEdit) as info:
            vol.write(P, "volume write")
        err = info.value.to_dict()
        assert err["code"] == "foreign_edit" and err["current_version"] == 1 and err["recover"]
    assert disk(root) == b"edited by hand"
    assert b.read(P) == "edited by hand"  # adopted as version 2
    assert b.read_with_version(P).version == 2
    assert a.read(P) == "edited by hand"
    assert a.write(P, "edited by hand + a") == 3
    assert disk(root) == b"edited by hand + a"


def test_foreign_revert_to_an_older_version_is_still_foreign(pair, root):
    a, _ = pair
    a.write(P, "old")
    a.write(P, "new")
    (root / P).write_text("old")  # e.g. an editor's undo: content the volume once wrote
    with pytest.raises(ForeignEdit):
        a.write(P, "newer")
    assert a.read(P) == "old"


def test_strict_read_raises_and_reacquire_adopts(root):
    with CoherentVolume(root, managed=("plans/**",), agent="s", on_stale_read="raise") as s:
        s.write(P, "v1")
        (root / P).write_text("foreign")
        with pytest.raises(ForeignEdit):
            s.read(P)
        with pytest.raises(ForeignEdit):
            s.read_with_version(P)
        assert disk(root) == b"foreign"
        assert s.reacquire(P) == "foreign"
        assert s.read(P) == "foreign"


def test_allow_opt_out_overwrites_foreign_edit(root):
    with CoherentVolume(root, managed=("plans/**",), agent="w", on_stale_write="allow") as w:
        w.write(P, "v1")
        (root / P).write_text("foreign")
        assert w.write(P, "v2") == 2
        assert disk(root) == b"v2"


def test_untracked_file_is_imported_on_read_and_refused_on_blind_write(pair, root):
    a, b = pair
    (root / "plans").mkdir()
    (root / P).write_text("pre-existing")
    with pytest.raises(ForeignEdit):
        a.write(P, "clobber")
    assert disk(root) == b"pre-existing"
    assert b.read(P) == "pre-existing"
    assert b.read_with_version(P).version == 1


def test_foreign_delete_adopted(pair, root):
    a, b = pair
    a.write(P, "x")
    os.unlink(root / P)
    with pytest.raises(UnknownArtifact):
        b.read(P)
    assert b.read(P, default=None) is None
    assert a.reacquire(P) is None
    assert a.write(P, "again") == 3


def test_missing_file_read(pair):
    a, _ = pair
    with pytest.raises(UnknownArtifact) as info:
        a.read("plans/none.md")
    assert info.value.to_dict()["code"] == "unknown_artifact"
    assert a.read("plans/none.md", default="") == ""


def test_write_cas_at_and_write_cas(pair, root):
    a, b = pair
    assert a.write_cas_at(P, 0, "1") == 1
    with pytest.raises(VersionConflict) as info:
        b.write_cas_at(P, 0, "clobber")
    assert info.value.current_version == 1
    assert disk(root) == b"1"
    assert b.write_cas(P, lambda s: str(int(s) + 1)) == 2
    assert a.write_cas(P, lambda s: str(int(s) + 1)) == 3
    assert disk(root) == b"3"
    v = a.read_with_version(P)
    assert (v.value, v.version) == ("3", 3)


def test_write_cas_gives_up_after_retries(pair, root):
    a, b = pair
    a.write(P, "0")

    def meddle(s):
        b.reacquire(P)
        b.write(P, s + "b")  # a peer wins every race
        return s + "a"

    with pytest.raises(RetriesExhausted) as info:
        a.write_cas(P, meddle, retries=2, backoff=0)
    assert info.value.to_dict()["code"] == "cas_retries_exhausted"
    assert disk(root) == b"0bbb"


def test_publish_all_or_nothing(pair, root):
    a, b = pair
    assert a.publish({"plans/x.md": "x1", "plans/y.md": "y1"}) == {"plans/x.md": 1, "plans/y.md": 1}
    b.read("plans/x.md")
    b.read("plans/y.md")
    a.write("plans/y.md", "y2")  # b's view of y is now stale
    with pytest.raises(TransactionConflict) as info:
        b.publish({"plans/x.md": "x-b", "plans/y.md": "y-b"})
    err = info.value.to_dict()
    assert err["code"] == "transaction_conflict"
    assert [c["artifact"] for c in err["details"]["conflicts"]] == ["plans/y.md"]
    assert disk(root, "plans/x.md") == b"x1" and disk(root, "plans/y.md") == b"y2"
    assert a.read_with_version("plans/x.md").version == 1
    b.reacquire("plans/y.md")
    assert b.publish({"plans/x.md": "x-b", "plans/y.md": "y-b"}) == {"plans/x.md": 2, "plans/y.md": 3}
    assert disk(root, "plans/x.md") == b"x-b" and disk(root, "plans/y.md") == b"y-b"


def test_publish_with_explicit_expected_versions(pair, root):
    a, b = pair
    a.write("plans/x.md", "x1")
    with pytest.raises(TransactionConflict):
        b.publish({"plans/x.md": "x2", "plans/z.md": "z1"}, expected={"plans/x.md": 0})
    assert not (root / "plans/z.md").exists()
    assert b.publish({"plans/x.md": "x2", "plans/z.md": "z1"},
                     expected={"plans/x.md": 1, "plans/z.md": 0}) == {"plans/x.md": 2, "plans/z.md": 1}


def test_publish_refuses_over_foreign_edit(pair, root):
    a, _ = pair
    a.publish({"plans/x.md": "x1", "plans/y.md": "y1"})
    (root / "plans/y.md").write_text("hand edit")
    with pytest.raises(ForeignEdit):
        a.publish({"plans/x.md": "x2", "plans/y.md": "y2"})
    assert disk(root, "plans/x.md") == b"x1" and disk(root, "plans/y.md") == b"hand edit"


def test_different_managed_globs_refused(root):
    with CoherentVolume(root, managed=("plans/**",)):
        with pytest.raises(ConfigurationMismatch) as info:
            CoherentVolume(root, managed=("**",))
        err = info.value.to_dict()
        assert err["code"] == "configuration_mismatch" and "plans/**" in err["recover"]
        with CoherentVolume(root, managed=["plans/**"]):  # same globs, any spelling of the tuple
            pass


def test_bytes_and_binary_files(root):
    with CoherentVolume(root, managed=("**",), encoding=None) as v:
        blob = bytes(range(256))
        v.write("bin/data.bin", blob)
        assert v.read("bin/data.bin") == blob
        assert disk(root, "bin/data.bin") == blob


def test_orphan_temp_files_removed(pair, root):
    a, b = pair
    a.write(P, "v1")
    orphan = root / "plans" / ".plan.md.ccs-tmp-999999999-dead"
    orphan.write_bytes(b"partial")
    b.reacquire(P)
    assert not orphan.exists()
    orphan2 = root / "plans" / ".other.md.ccs-tmp-999999999-beef"
    orphan2.write_bytes(b"partial")
    with CoherentVolume(root, managed=("plans/**",)) as c:
        assert c.orphans_removed == 1
    assert not orphan2.exists()


def test_lock_held_too_long_is_a_typed_error(root):
    with CoherentVolume(root, managed=("plans/**",), lock_timeout=0.2) as v:
        v.write(P, "v1")
        # a second open file description conflicts like another process would
        with PathLock(v.lock_dir, P), pytest.raises(BackendUnavailable) as info:
            v.write(P, "v2")
        assert info.value.to_dict()["recover"]
        assert disk(root) == b"v1"
        assert v.write(P, "v2") == 2


def test_memory_engine_url(root):
    with CoherentVolume(root, managed=("**",), engine="memory://") as v:
        v.write("a.txt", "x")
        assert v.read("a.txt") == "x"
        assert v.status()["engine"] == "memory://"


def test_crash_recovery_is_on_by_default_and_fences_a_reclaimed_volume(tmp_path):
    """As on every surface: a volume whose process stopped heartbeating is fenced after a sweep."""
    from ccs import CrashRecoveryConfig, GrantReclaimed, ManualClock

    default = CoherentVolume(tmp_path, managed=("**",), agent="plain")
    assert default.coordinator.crash_recovery.enabled and default.core.heartbeater is not None
    default.close()

    clock = ManualClock()
    cr = CrashRecoveryConfig(heartbeat_ttl=5, sweep_interval=1e9)
    vol = CoherentVolume(tmp_path, managed=("**",), agent="sleeper", crash_recovery=cr, clock=clock)
    vol.write("plan.md", "v1\n")
    clock.advance(6)
    assert [n.agent for n in vol.coordinator.sweep()] == [vol.agent.id]  # "sleeper@<instance>"
    with pytest.raises(GrantReclaimed):
        vol.write("plan.md", "v1\nlate\n")
    assert (tmp_path / "plan.md").read_text() == "v1\n"
    vol.close()
