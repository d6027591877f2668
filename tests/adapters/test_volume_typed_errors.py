"""Paths that cannot name a file, names that are not text, a state directory that is a file,
operating-system errors and constructor arguments of the wrong type: each is a ``CoherenceError``
with a stable code and a recover hint, from every operation (``status`` and ``repair`` too), and
nothing on disk or in the state changes."""

from __future__ import annotations

import math
import os

import pytest

from ccs import CrashRecoveryConfig
from ccs.adapters.coherent_volume import CoherentVolume
from ccs.protocol.errors import CoherenceError, CorruptState, InvalidRequest, NotAFile

OPS = {
    "read": lambda v, p: v.read(p),
    "read_bytes": lambda v, p: v.read_bytes(p),
    "read_with_version": lambda v, p: v.read_with_version(p),
    "reacquire": lambda v, p: v.reacquire(p),
    "version": lambda v, p: v.version(p),
    "write": lambda v, p: v.write(p, "x"),
    "write_cas_at": lambda v, p: v.write_cas_at(p, 0, "x"),
    "write_cas": lambda v, p: v.write_cas(p, lambda old: "x"),
    "delete": lambda v, p: v.delete(p),
    "publish": lambda v, p: v.publish({p: "x"}),
    "status": lambda v, p: v.status(p),
}

BAD_PATHS = {
    "below_a_file": ("a.txt/b", "not_a_file"),
    "directory_in_place_of_a_file": ("d.txt", "not_a_file"),
    "symlink_loop": ("loop", "not_a_file"),
    "below_a_symlink_loop": ("loop/x", "not_a_file"),
    "fifo": ("fifo", "not_a_file"),
    "lone_surrogate_escape": ("\udcff.txt", "invalid_id"),
    "lone_surrogate": ("\ud800.txt", "invalid_id"),
    "nul": ("a\x00b", "path_outside_workspace"),
    "name_too_long": ("n" * 300, "filesystem_error"),
}


def snapshot(root) -> dict[str, object]:
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel == ".ccs":
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                out[os.path.join(rel, name)] = ("link", os.readlink(full))
            elif os.path.isfile(full):
                with open(full, "rb") as f:
                    out[os.path.join(rel, name)] = f.read()
            else:
                out[os.path.join(rel, name)] = "dir" if os.path.isdir(full) else "special"
    return out


@pytest.fixture
def workspace(tmp_path):
    """a.txt a file; d.txt a managed file replaced by a directory; a symlink loop; a FIFO."""
    v = CoherentVolume(tmp_path, managed=("**",), agent="t")
    v.write("a.txt", "A\n")
    v.write("d.txt", "D\n")
    os.unlink(tmp_path / "d.txt")
    os.mkdir(tmp_path / "d.txt")
    (tmp_path / "d.txt" / "inside").write_text("kept\n")
    os.symlink("loop", tmp_path / "loop")
    os.mkfifo(tmp_path / "fifo")
    yield tmp_path, v
    v.close()


def versions(v) -> dict[str, int]:
    return {r.artifact_id: r.version for r in v.coordinator.artifacts()}


@pytest.mark.parametrize("case", sorted(BAD_PATHS))
def test_bad_paths_are_typed_from_every_operation(workspace, case):
    root, v = workspace
    path, code = BAD_PATHS[case]
    before, state = snapshot(root), versions(v)
    for name, op in OPS.items():
        with pytest.raises(CoherenceError) as info:
            op(v, path)
        err = info.value.to_dict()
        assert err["code"] == code, f"{name}: {err}"
        assert err["recover"], name
    assert snapshot(root) == before
    assert versions(v) == state


def test_status_and_repair_over_a_file_replaced_by_a_directory(workspace):
    root, v = workspace
    before, state = snapshot(root), versions(v)
    files = {f["path"]: f for f in v.status()["files"]}
    assert files["a.txt"]["disk"] == "clean"
    assert files["d.txt"]["disk"] == "error" and files["d.txt"]["error"]["code"] == "not_a_file"
    with pytest.raises(NotAFile) as info:
        v.repair()
    assert info.value.details["failed"] == [{"path": "d.txt", "code": "not_a_file"}]
    assert snapshot(root) == before and versions(v) == state
    assert v.read("a.txt") == "A\n"  # the other files stay usable


def test_state_directory_that_is_a_regular_file(tmp_path):
    (tmp_path / ".ccs").write_text("my notes, not a state\n")
    with pytest.raises(CorruptState) as info:
        CoherentVolume(tmp_path, managed=("**",), agent="t")
    err = info.value.to_dict()
    assert err["code"] == "corrupt_state" and ".ccs" in err["recover"]
    assert (tmp_path / ".ccs").read_text() == "my notes, not a state\n"
    assert os.listdir(tmp_path) == [".ccs"]


def test_content_the_encoding_cannot_represent(tmp_path):
    with CoherentVolume(tmp_path, managed=("**",), agent="t", encoding="ascii") as v:
        with pytest.raises(CoherenceError) as info:
            v.write("a.txt", "caf\u00e9")
        assert info.value.code == "invalid_value"
    assert not (tmp_path / "a.txt").exists()


@pytest.mark.parametrize("kwargs", [
    {"lock_timeout": "5"}, {"lock_timeout": math.nan}, {"lock_timeout": -1},
    {"lock_timeout": math.inf}, {"lock_timeout": True},
    {"durable": "no"}, {"durable": 0},
    {"encoding": 5}, {"encoding": "no-such-codec"},
    {"crash_recovery": False}, {"crash_recovery": {"enabled": False}},
    {"managed": 5}, {"managed": ["/abs/**"]}, {"managed": []},
    {"strategy": ["lazy"]}, {"engine": 5}, {"agent": 5}, {"limits": {}},
], ids=repr)
def test_constructor_arguments_are_type_checked(tmp_path, kwargs):
    with pytest.raises(InvalidRequest) as info:
        CoherentVolume(tmp_path, **{"agent": "t", **kwargs})
    err = info.value.to_dict()
    assert err["code"] in {"invalid_request", "invalid_argument"} and err["recover"]
    assert os.listdir(tmp_path) == []  # nothing opened, nothing created


def test_a_crash_recovery_config_checks_itself():
    with pytest.raises(InvalidRequest) as info:
        CrashRecoveryConfig(heartbeat_ttl=math.nan)
    assert info.value.code == "invalid_argument"


@pytest.mark.parametrize("bad", ["1", -1, 1.0, True, None])
def test_expected_versions_are_type_checked(tmp_path, bad):
    with CoherentVolume(tmp_path, managed=("**",), agent="t") as v:
        for op in (lambda: v.write_cas_at("a.txt", bad, "x"),
                   lambda: v.publish({"a.txt": "x"}, expected={"a.txt": bad})):
            with pytest.raises(InvalidRequest):
                op()
        assert not (tmp_path / "a.txt").exists()
