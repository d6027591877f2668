"""A volume's change lets go of the file's lock before the directory fsync of its rename, and
returns only after that fsync: the next writer's commit overlaps it. A failed deferred fsync is
a typed error that says the change was committed."""

from __future__ import annotations

import contextlib
import os
import time

import pytest

from ccs.adapters.coherent_volume import CoherentVolume, dirsync, workers
from ccs.adapters.coherent_volume import materialize as mat
from ccs.protocol.errors import FileSystemError

F = "data/f.txt"


class Recorder:
    """os.fsync that records, for each directory fsync, whether the file's lock was free."""

    def __init__(self, vol: CoherentVolume, fail: bool = False) -> None:
        self.vol, self.fail, self.real = vol, fail, os.fsync
        self.lock_free: list[bool] = []

    def __call__(self, fd: int) -> None:
        lk = mat.PathLock(self.vol.fs.locks_fd, self.vol.artifact_id(F), 0.0, self.vol.state_id)
        try:
            with lk:  # taken at once only if the writer let go of it before this fsync
                self.lock_free.append(True)
        except Exception:
            self.lock_free.append(False)
        if self.fail:
            raise OSError(5, "injected EIO")
        self.real(fd)


@pytest.mark.parametrize("op", ["write", "write_cas", "write_cas_at", "delete"])
def test_directory_fsync_runs_after_the_lock_and_before_returning(tmp_path, monkeypatch, op):
    with CoherentVolume(tmp_path, agent="a") as vol:
        vol.write(F, "0")
        rec = Recorder(vol)
        monkeypatch.setattr(dirsync.os, "fsync", rec)
        if op == "write":
            assert vol.write(F, "1") == 2
        elif op == "write_cas":
            assert vol.write_cas(F, lambda s: s + "1") == 2
        elif op == "write_cas_at":
            assert vol.write_cas_at(F, 1, "1") == 2
        else:
            assert vol.delete(F) == 2
        assert rec.lock_free == [True]  # one directory fsync, done (before returning) unlocked
        monkeypatch.undo()
        assert vol.status(F)["files"][0]["disk"] == "clean"


def test_a_failed_deferred_fsync_says_the_change_was_committed(tmp_path, monkeypatch):
    with CoherentVolume(tmp_path, agent="a") as vol:
        vol.write(F, "0")
        monkeypatch.setattr(dirsync.os, "fsync", Recorder(vol, fail=True))
        with pytest.raises(FileSystemError) as err:
            vol.write(F, "1")
        assert err.value.details["committed_version"] == 2
        assert "WAS committed" in err.value.recover
        monkeypatch.undo()
        assert vol.read(F) == "1" and vol.version(F) == 2
        assert vol.write(F, "2") == 3  # the volume is usable afterwards, nothing leaked
    assert not [n for n in os.listdir(tmp_path / "data") if n.startswith(".")]


def test_write_cas_whose_function_writes_the_same_file_syncs_both(tmp_path, monkeypatch):
    """The inner write (through the lent lock) syncs before the outer attempt lets go."""
    with CoherentVolume(tmp_path, agent="a") as vol:
        vol.write(F, "0")
        calls: list[int] = []
        real = os.fsync
        monkeypatch.setattr(dirsync.os, "fsync", lambda fd: calls.append(fd) or real(fd))
        done = []

        def fn(s: str) -> str:
            if not done:
                done.append(vol.write(F, "inner"))
            return s + "!"

        assert vol.write_cas(F, fn) == 3
        assert vol.read(F) == "inner!"
        assert len(calls) == 2


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists descriptors through /proc")
def test_replaced_files_are_released_after_the_lock_and_no_descriptor_leaks(tmp_path, monkeypatch):
    """The file a write replaces is held open (O_PATH) across the rename, so the rename does not
    free its blocks under the lock; it is closed after the lock (inline, or by the closer)."""
    closed_while_locked: list[bool] = []
    real_close_later = workers.close_later

    def spy(fds: list[int]) -> None:
        lk = mat.PathLock(vol.fs.locks_fd, vol.artifact_id(F), 0.0, vol.state_id)
        try:
            with lk:
                closed_while_locked.append(False)
        except Exception:
            closed_while_locked.append(True)
        real_close_later(fds)

    def held_files() -> list[str]:
        """This process's descriptors of files under data/ (replaced ones read '... (deleted)'),
        once the closer thread (if it was used) had the time to close what it was handed."""
        deadline = time.monotonic() + 10
        while True:
            links = []
            for fd in os.listdir("/proc/self/fd"):
                with contextlib.suppress(OSError):  # the listing's own descriptor is gone
                    links.append(os.readlink(f"/proc/self/fd/{fd}"))
            held = [x for x in links if x.startswith(str(tmp_path / "data"))]
            if not held or time.monotonic() > deadline:
                return held
            time.sleep(0.01)

    with CoherentVolume(tmp_path, agent="a") as vol:
        vol.write(F, "0")
        assert held_files() == []
        monkeypatch.setattr(mat, "close_later", spy)
        for i in range(20):
            vol.write(F, str(i))
            vol.write_cas(F, lambda s: s + "+")
        vol.delete(F)
        monkeypatch.undo()
        assert closed_while_locked and not any(closed_while_locked)
        assert held_files() == []
        assert vol.read(F, None) is None


@pytest.mark.parametrize("slow", [False, True])
def test_replaced_files_are_closed_inline_when_fast_and_by_the_closer_when_slow(monkeypatch, slow):
    monkeypatch.setattr(workers, "_close_time", [1.0 if slow else 0.0])
    r, w = os.pipe()
    workers.close_later([r, w])
    deadline = time.monotonic() + (10 if slow else 0)
    for fd in (r, w):
        while True:  # fast: closed already; slow: closed by the closer thread soon
            try:
                os.fstat(fd)
            except OSError:
                break
            assert time.monotonic() < deadline, f"descriptor {fd} was never closed"
            time.sleep(0.005)


def test_a_lagging_closer_makes_the_writer_close_itself(monkeypatch):
    monkeypatch.setattr(workers, "_close_time", [1.0])
    monkeypatch.setattr(workers, "_PENDING_MAX", 0)
    r, w = os.pipe()
    workers.close_later([r, w])
    for fd in (r, w):  # closed at once, by the caller
        with pytest.raises(OSError):
            os.fstat(fd)
