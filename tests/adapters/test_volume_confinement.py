"""Every file operation stays inside the root, even when a managed directory or file is swapped
for a symlink to the outside while a repair is pending (a writer SIGKILLed between its commit
and the file write). Nothing outside is written, nothing outside is read into the store, and
the refusal is typed."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys

import pytest

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.protocol.errors import CorruptState, PathOutsideWorkspace

P = "plans/plan.md"
MANAGED = ("plans/**",)
CRASHER = "committed by the crasher\n"

pytestmark = pytest.mark.slow


def work_crash(root: str) -> None:
    """Commit a new version of P, then die before the file is written (repair pending)."""
    vol = CoherentVolume(root, managed=MANAGED, agent="crasher")
    vol.read(P)

    def die(*_a, **_k):
        os.kill(os.getpid(), signal.SIGKILL)

    vol._materialize = die
    vol.write(P, CRASHER)


def listing(path) -> dict[str, bytes]:
    out = {}
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            full = os.path.join(dirpath, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, path)] = f.read()
    return out


@pytest.fixture
def pending(tmp_path):
    """A root with P at version 1 on disk and version 2 committed but not materialized, and an
    outside directory holding a secret."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("outside secret\n")
    with CoherentVolume(root, managed=MANAGED, agent="setup") as v:
        v.write(P, "original\n")
    child = subprocess.run([sys.executable, __file__, "crash", str(root)], capture_output=True,
                           timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert (root / P).read_text() == "original\n"
    return root, outside


def check_refused(root, outside, before):
    with CoherentVolume(root, managed=MANAGED, agent="repairer") as v:
        try:
            v.repair()
            refusal = None
        except PathOutsideWorkspace as exc:
            refusal = exc
        # Nothing outside was written, and nothing outside was read into the store.
        assert listing(outside) == before, "repair wrote outside the root"
        rec = v.coordinator.artifact(P)
        assert rec.version == 2 and v.coordinator.content_at(P) == CRASHER.encode()
        for data in set(before.values()) - {b"original\n"}:  # v1's bytes are in the store anyway
            assert v.coordinator.backend.get_blob(hashlib.sha256(data).hexdigest()) is None, \
                "repair committed bytes read from outside the root"
        # And the refusal is typed, from repair() and status() alike.
        assert refusal is not None, "repair() did not refuse"
        err = refusal.to_dict()
        assert err["code"] == "path_outside_workspace" and err["recover"]
        assert err["details"]["failed"] == [{"path": P, "code": "path_outside_workspace"}]
        entry = v.status()["files"][0]
        assert entry["disk"] == "error" and entry["error"]["code"] == "path_outside_workspace"
        with pytest.raises(PathOutsideWorkspace):
            v.status(P)
    assert listing(outside) == before


@pytest.mark.parametrize("outside_plan", ["original\n", "outside plan\n"],
                         ids=["matches_mark_repair_would_write", "differs_repair_would_adopt"])
def test_directory_swapped_for_outside_symlink_while_repair_pending(pending, outside_plan):
    root, outside = pending
    (outside / "plan.md").write_text(outside_plan)
    os.rename(root / "plans", root / "plans.moved")
    os.symlink(outside, root / "plans")
    before = listing(outside)
    check_refused(root, outside, before)
    assert (root / "plans.moved" / "plan.md").read_text() == "original\n"


def test_file_swapped_for_outside_symlink_while_repair_pending(pending):
    root, outside = pending
    os.unlink(root / P)
    os.symlink(outside / "secret.txt", root / P)
    before = listing(outside)
    check_refused(root, outside, before)
    assert os.readlink(root / P) == str(outside / "secret.txt")


def test_lock_directory_swapped_for_outside_symlink(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    with CoherentVolume(root, managed=("**",), agent="a") as v:
        v.write("a.md", "one\n")
        os.rename(root / ".ccs" / "locks", root / ".ccs" / "locks.moved")
        os.symlink(outside, root / ".ccs" / "locks")
        v.write("b.md", "two\n")  # the open volume keeps its own lock directory
        assert v.read("a.md") == "one\n"
        with pytest.raises(CorruptState) as info:
            CoherentVolume(root, managed=("**",), agent="b")
        assert info.value.to_dict()["code"] == "corrupt_state"
    assert os.listdir(outside) == []


def test_state_directory_symlink_refused(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / ".ccs")
    with pytest.raises(CorruptState) as info:
        CoherentVolume(root, managed=("**",), agent="a")
    assert info.value.to_dict()["code"] == "corrupt_state" and info.value.recover
    assert os.listdir(outside) == []


if __name__ == "__main__":
    cmd, *rest = sys.argv[1:]
    {"crash": work_crash}[cmd](*rest)
