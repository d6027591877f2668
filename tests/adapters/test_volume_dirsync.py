"""Group commit of directory fsyncs (coherent_volume.dirsync): writers renaming into one
directory together share fsyncs, none returns before an fsync that began after it started, and a
failed fsync fails only its own caller."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ccs.adapters.coherent_volume import dirsync
from ccs.adapters.coherent_volume.confined import Root
from ccs.protocol.errors import FileSystemError


class SlowFsync:
    """The real os.fsync, made slow enough that writers overlap, recording when each call began
    and ended; it can fail its first call (EIO)."""

    def __init__(self, fail_first: bool) -> None:
        self.real = os.fsync
        self.calls: list[tuple[float, float]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, fd: int) -> None:
        start = time.monotonic()
        with self.lock:
            fail, self.fail_first = self.fail_first, False
        time.sleep(0.05)
        if fail:
            raise OSError(5, "injected EIO")
        self.real(fd)
        with self.lock:
            self.calls.append((start, time.monotonic()))


@pytest.mark.parametrize("fail_first", [False, True])
def test_writers_share_directory_fsyncs_and_each_is_covered(tmp_path, monkeypatch, fail_first):
    slow = SlowFsync(fail_first)
    monkeypatch.setattr(dirsync.os, "fsync", slow)
    root = Root(str(tmp_path))
    writers = 8
    barrier = threading.Barrier(writers)
    span: dict[int, tuple[float, float]] = {}
    failed: list[FileSystemError] = []

    def write(k: int) -> None:
        barrier.wait()
        began = time.monotonic()
        try:
            root.write_atomic(f"f{k}.txt", f"content {k}".encode())
        except FileSystemError as exc:
            failed.append(exc)
            return
        span[k] = (began, time.monotonic())

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    root.close()
    assert len(span) + len(failed) == writers
    assert len(failed) == (1 if fail_first else 0)  # the others did not take the failure as theirs
    assert len(slow.calls) < len(span)  # shared: fewer successful directory fsyncs than writers
    for k, (began, returned) in span.items():
        assert (tmp_path / f"f{k}.txt").read_bytes() == f"content {k}".encode()
        assert any(began <= start and end <= returned for start, end in slow.calls), k
