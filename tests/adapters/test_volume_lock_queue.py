"""Volumes queue for a file's lock instead of racing: ``write_cas`` reads, calls ``fn`` and commits
under the lock (no attempt lost to another volume), waiters block in the kernel's queue, and an
abandoned wait gives the lock back."""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.adapters.coherent_volume.materialize import PathLock
from ccs.protocol.errors import BackendUnavailable, FileSystemError

P = "plans/plan.md"


@pytest.fixture
def pair(tmp_path):
    a = CoherentVolume(tmp_path, managed=("plans/**",), agent="a")
    b = CoherentVolume(tmp_path, managed=("plans/**",), agent="b")
    yield a, b
    a.close()
    b.close()


def test_write_cas_of_another_volume_waits_instead_of_making_this_one_retry(pair):
    a, b = pair
    a.write(P, "1")
    calls = {"a": 0, "b": 0}
    peer = threading.Thread(target=lambda: b.write_cas(P, lambda s: count("b", s)))

    def count(who, s):
        calls[who] += 1
        return str(int(s) + 1)

    def slow_increment(s):
        calls["a"] += 1
        if not peer.is_alive() and calls["a"] == 1:
            peer.start()
            time.sleep(0.2)  # the peer runs meanwhile; it must not commit before this attempt
        return str(int(s) + 1)

    assert a.write_cas(P, slow_increment) == 2
    peer.join(10)
    assert calls == {"a": 1, "b": 1}  # one read-modify-write each, no attempt lost a race
    assert a.read(P) == "3"


def test_fn_may_use_the_same_file_through_the_volume(pair, tmp_path):
    a, b = pair
    a.write(P, "0")
    seen = []

    def peek_then_increment(s):
        seen.append(b.read(P))  # the lock is lent to this thread: no wait for itself
        return str(int(s) + 1)

    assert a.write_cas(P, peek_then_increment) == 2
    assert seen == ["0"] and (tmp_path / P).read_bytes() == b"1"


def test_a_waiter_gets_the_lock_when_its_holder_lets_go(pair):
    a, _ = pair
    holder = PathLock(a.lock_dir, P).__enter__()
    threading.Timer(0.1, holder.__exit__).start()
    with PathLock(a.lock_dir, P, timeout=10) as lk:
        assert lk.fd >= 0


def test_an_abandoned_wait_gives_the_lock_back(pair):
    a, _ = pair
    holder = PathLock(a.lock_dir, P).__enter__()
    with pytest.raises(BackendUnavailable):
        PathLock(a.lock_dir, P, timeout=0.1).__enter__()
    holder.__exit__()
    # the timed-out waiter's thread took the lock as it was released and let go of it at once
    with PathLock(a.lock_dir, P, timeout=5):
        pass


def test_a_failed_directory_fsync_is_the_writes_typed_error(pair, monkeypatch):
    a, _ = pair
    a.write(P, "1")

    def eio(fd):
        raise OSError(errno.EIO, "injected")

    monkeypatch.setattr(os, "fsync", eio)
    with pytest.raises(FileSystemError) as info:
        a.write(P, "2")
    monkeypatch.undo()
    assert info.value.details["committed_version"] == 2 and "WAS committed" in info.value.recover
    assert a.read_with_version(P).version == 2
