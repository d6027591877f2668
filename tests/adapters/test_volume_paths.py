"""Path confinement of CoherentVolume: every escape is refused with a typed error, and nothing is
created outside the root or inside the state directory."""

from __future__ import annotations

import os

import pytest

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.adapters.coherent_volume.paths import glob_regex, split_relative
from ccs.protocol.errors import PathOutsideWorkspace, UnmanagedPath


@pytest.fixture
def vol(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    v = CoherentVolume(root, managed=("**",), agent="paths")
    yield v
    v.close()


def test_normalization_gives_one_id_per_file(vol):
    vol.write("plans/a.md", "one")
    for alias in ("plans/a.md", "./plans/a.md", "plans//a.md", "plans/./a.md"):
        assert vol.read(alias) == "one"
        assert vol.read_with_version(alias).version == 1
    assert [f["path"] for f in vol.status()["files"]] == ["plans/a.md"]


@pytest.mark.parametrize("bad", [
    "../outside.md", "plans/../../outside.md", "a/../b.md", "..",
    "/etc/passwd", "\\\\server\\share", "C:/x.md",
    ".ccs/state.db", ".ccs", "./.ccs/locks/x", ".CCS/state.db",
    "", ".", "a/\x00b",
    "plans/.a.md.ccs-tmp-1-abcd",
])
def test_escapes_refused(vol, tmp_path, bad):
    before = sorted(os.listdir(tmp_path))
    for op in (lambda: vol.read(bad), lambda: vol.write(bad, "x"),
               lambda: vol.write_cas_at(bad, 0, "x"), lambda: vol.publish({bad: "x"})):
        with pytest.raises(PathOutsideWorkspace) as info:
            op()
        payload = info.value.to_dict()
        assert payload["code"] == "path_outside_workspace" and payload["recover"]
    assert sorted(os.listdir(tmp_path)) == before
    assert not os.path.exists(tmp_path / "outside.md")


def test_symlink_escaping_root_refused(vol, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("secret")
    root = tmp_path / "root"
    os.symlink(outside, root / "linkdir")
    os.symlink(outside / "secret.md", root / "link.md")
    os.symlink(root / ".ccs", root / "state-link")
    for bad in ("linkdir/secret.md", "linkdir/new.md", "link.md", "state-link/state.db"):
        with pytest.raises(PathOutsideWorkspace):
            vol.read(bad)
        with pytest.raises(PathOutsideWorkspace):
            vol.write(bad, "overwrite")
    assert (outside / "secret.md").read_text() == "secret"
    assert not (outside / "new.md").exists()


def test_symlink_inside_root_resolves_to_its_target(vol, tmp_path):
    root = tmp_path / "root"
    vol.write("docs/real.md", "v1")
    os.symlink(root / "docs", root / "alias")
    assert vol.read("alias/real.md") == "v1"
    vol.write("alias/real.md", "v2")  # the same artifact: the view from the read above is current
    assert (root / "docs" / "real.md").read_text() == "v2"
    assert vol.read_with_version("docs/real.md").version == 2
    assert os.path.islink(root / "alias")


def test_directory_is_not_a_file(vol, tmp_path):
    (tmp_path / "root" / "d").mkdir()
    with pytest.raises(PathOutsideWorkspace):
        vol.write("d", "x")


def test_unmanaged_paths_refused(tmp_path):
    with CoherentVolume(tmp_path, managed=("plans/**", "*.json")) as v:
        v.write("plans/x/y.md", "ok")
        v.write("memory.json", "{}")
        for bad in ("notes.md", "plansx/a.md", "sub/memory.json"):
            with pytest.raises(UnmanagedPath) as info:
                v.write(bad, "no")
            assert info.value.to_dict()["code"] == "unmanaged_path"
            assert not (tmp_path / bad).exists()


def test_glob_semantics():
    assert glob_regex("plans/**").match("plans/a/b/c.md")
    assert glob_regex("**/*.md").match("a.md") and glob_regex("**/*.md").match("x/y/a.md")
    assert not glob_regex("*.md").match("x/a.md")
    assert glob_regex("a?c/[!x]*").match("abc/yz")
    assert not glob_regex("a?c/[!x]*").match("abc/xz")
    assert split_relative("a//./b") == ["a", "b"]
