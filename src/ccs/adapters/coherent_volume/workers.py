"""Worker threads of a volume process, kept for reuse: starting a thread per blocking wait costs
more than the wait on a busy machine. A forked child makes its own (threads do not survive fork).
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_pools: dict[str, tuple[int, ThreadPoolExecutor]] = {}
_pools_lock = threading.Lock()


def pool(name: str, size: int) -> ThreadPoolExecutor:
    """The process's pool ``name`` (threads are started as needed, up to ``size``)."""
    entry = _pools.get(name)
    if entry is None or entry[0] != os.getpid():
        with _pools_lock:
            entry = _pools.get(name)
            if entry is None or entry[0] != os.getpid():
                entry = (os.getpid(), ThreadPoolExecutor(size, thread_name_prefix=f"ccs-volume-{name}"))
                _pools[name] = entry
    return entry[1]


_pending = [0]  # descriptors handed to the closer and not closed yet
MAX_PENDING = 64


def close_later(fds: list[int]) -> None:
    """Close ``fds`` on a worker thread: closing the last reference of a replaced file frees its
    blocks, which can wait on the filesystem's journal; nothing the caller returns depends on it.
    With ``MAX_PENDING`` already waiting (the closer lags), the caller closes them itself."""
    if _pending[0] >= MAX_PENDING:
        _close_all(fds, queued=False)
        return
    with _pools_lock:
        _pending[0] += len(fds)
    pool("close", 1).submit(_close_all, fds)


def _close_all(fds: list[int], queued: bool = True) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    if queued:
        with _pools_lock:
            _pending[0] -= len(fds)
