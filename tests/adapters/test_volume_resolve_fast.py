"""``paths.resolve`` names a path with no symlink on its way by one ``lstat`` per component below
the root; only a symlink (or a path through a regular file, a loop) takes the full ``realpath``."""

from __future__ import annotations

import os

import pytest

from ccs.adapters.coherent_volume import paths
from ccs.protocol.errors import NotAFile, PathOutsideWorkspace


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = os.path.realpath

    def realpath(p, *a, **k):
        calls.append(p)
        return real(p, *a, **k)

    monkeypatch.setattr(paths.os.path, "realpath", realpath)
    return calls


def test_plain_paths_skip_realpath(tmp_path, counted):
    root = os.path.realpath(tmp_path)
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "a.md").write_text("x")
    counted.clear()
    assert paths.resolve(root, "plans/./a.md") == "plans/a.md"
    assert paths.resolve(root, "plans/new/b.md") == "plans/new/b.md"  # still to be created
    assert counted == []
    with pytest.raises(NotAFile):
        paths.resolve(root, "plans")


def test_symlinks_still_resolve_and_confine(tmp_path, counted):
    root = os.path.realpath(tmp_path / "root")
    os.makedirs(os.path.join(root, "plans"))
    (tmp_path / "outside").mkdir()
    os.symlink("plans", os.path.join(root, "alias"))
    os.symlink(tmp_path / "outside", os.path.join(root, "out"))
    assert paths.resolve(root, "alias/a.md") == "plans/a.md"
    with pytest.raises(PathOutsideWorkspace):
        paths.resolve(root, "out/a.md")
    assert counted  # both took the full resolution
