"""A durable write's content is written and fdatasynced while its commit runs (``early_sync``):
the prepared file is what lands, a refused commit leaves nothing behind, and a path changed
during the commit falls back to writing the content anew."""

from __future__ import annotations

import os

import pytest

from ccs.adapters.coherent_volume import CoherentVolume, confined
from ccs.protocol.errors import StaleView, VersionConflict

P = "plans/plan.md"


@pytest.fixture
def calls(monkeypatch):
    seen = {"prepared": 0, "write_atomic": 0}
    prepare, write_atomic = confined.Root.prepare, confined.Root.write_atomic

    def counted_prepare(self, aid, data):
        prepared = prepare(self, aid, data)
        seen["prepared"] += prepared is not None
        return prepared

    def counted_write_atomic(self, aid, data, **kw):
        seen["write_atomic"] += 1
        return write_atomic(self, aid, data, **kw)

    monkeypatch.setattr(confined.Root, "prepare", counted_prepare)
    monkeypatch.setattr(confined.Root, "write_atomic", counted_write_atomic)
    return seen


def temps(root):
    return [n for n in os.listdir(root / "plans") if ".ccs-tmp-" in n]


pytestmark = pytest.mark.skipif(not confined._UNNAMED_FILES, reason="no O_TMPFILE here")


def test_writes_land_the_content_prepared_during_the_commit(tmp_path, calls):
    with CoherentVolume(tmp_path, managed=("plans/**",), agent="a") as a:
        a.write(P, "one\n")  # the directory is new: the plain path
        calls.update(prepared=0, write_atomic=0)
        assert a.write(P, "two\n") == 2
        assert a.write_cas_at(P, 2, "three\n") == 3
        assert a.write_cas(P, lambda s: s + "four\n") == 4
    assert calls == {"prepared": 3, "write_atomic": 0}
    assert (tmp_path / P).read_text() == "three\nfour\n" and temps(tmp_path) == []


def test_refused_commits_leave_no_file_behind(tmp_path, calls):
    with CoherentVolume(tmp_path, managed=("plans/**",), agent="a") as a, \
            CoherentVolume(tmp_path, managed=("plans/**",), agent="b") as b:
        a.write(P, "one\n")
        b.read(P)
        a.write(P, "two\n")
        with pytest.raises(StaleView):
            b.write(P, "stale\n")
        with pytest.raises(VersionConflict):
            b.write_cas_at(P, 1, "stale\n")
    assert calls["prepared"] == 3
    assert (tmp_path / P).read_text() == "two\n" and temps(tmp_path) == []


def test_directory_replaced_during_the_commit_gets_the_content_written_anew(tmp_path, calls):
    with CoherentVolume(tmp_path, managed=("plans/**",), agent="a") as a:
        a.write(P, "one\n")
        commit = a.agent.write

        def swap_then_commit(aid, payload):
            os.rename(tmp_path / "plans", tmp_path / "plans.old")
            os.mkdir(tmp_path / "plans")
            (tmp_path / P).write_text("one\n")
            return commit(aid, payload)

        a.agent.write = swap_then_commit
        calls.update(prepared=0, write_atomic=0)
        assert a.write(P, "two\n") == 2
    assert calls == {"prepared": 1, "write_atomic": 1}
    assert (tmp_path / P).read_text() == "two\n"
    assert (tmp_path / "plans.old" / "plan.md").read_text() == "one\n"
