"""Group commit of directory fsyncs: threads that renamed files into the same directory share one.

A rename is durable once its directory is fsynced. A writer that finds another thread's fsync
of the directory already running waits for the next one to start after its own rename, rather
than issuing its own; several writers finishing together cost one fsync between them. A failed
fsync covers nobody: each waiter then tries again itself. Across processes nothing is shared.
"""

from __future__ import annotations

import os
import threading


class _Directory:
    __slots__ = ("cond", "done", "requested", "running")

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.requested = 0  # renames waiting for durability, numbered in arrival order
        self.done = 0  # every request numbered up to this one is durable
        self.running = False


_dirs: dict[tuple[int, int], _Directory] = {}
_dirs_lock = threading.Lock()


def fsync_directory(dfd: int) -> None:
    """Make every rename done in the directory open as ``dfd`` before this call durable."""
    st = os.fstat(dfd)
    key = (st.st_dev, st.st_ino)
    d = _dirs.get(key)
    if d is None:
        with _dirs_lock:
            d = _dirs.setdefault(key, _Directory())
    with d.cond:
        d.requested += 1
        mine = d.requested
        while d.done < mine:
            if not d.running:  # none running: run one, covering every request made so far
                d.running = True
                covers = d.requested
                break
            d.cond.wait()
        else:
            return
    ok = False
    try:
        os.fsync(dfd)
        ok = True
    finally:
        with d.cond:
            d.running = False
            if ok:
                d.done = max(d.done, covers)
            d.cond.notify_all()
