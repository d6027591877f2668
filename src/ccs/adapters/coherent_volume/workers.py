"""Worker threads of a volume process, kept for reuse: starting a thread per blocking wait costs
more than the wait on a busy machine. A forked child makes its own (threads do not survive fork).
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
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


_closer: tuple[int, queue.SimpleQueue[int]] | None = None
_PENDING_MAX = 64
SLOW_CLOSE = 100e-6  # seconds: closes slower than this (on average) go to the closer thread
_close_time = [0.0]  # moving average of how long closing one replaced file took


def close_later(fds: list[int]) -> None:
    """Close descriptors of replaced files, off the caller's path when that is worth it.

    Closing the last reference of a replaced file frees its blocks: on ext4 that waits 0.4-4 ms
    (measured), on tmpfs a few microseconds. While closes are slow they are handed to a closer
    thread (nothing the caller returns depends on them); while they are fast, a hand-off would
    cost more than the close, so the caller closes them itself. Past ``_PENDING_MAX`` waiting
    (the closer lags), the caller closes them itself too."""
    if _close_time[0] < SLOW_CLOSE:
        for fd in fds:
            _close(fd)
        return
    q = _closer_queue()
    for fd in fds:
        if q.qsize() >= _PENDING_MAX:
            _close(fd)
        else:
            q.put(fd)


def _close(fd: int) -> None:
    start = time.perf_counter()
    with contextlib.suppress(OSError):
        os.close(fd)
    _close_time[0] += 0.2 * (time.perf_counter() - start - _close_time[0])


def _closer_queue() -> queue.SimpleQueue[int]:
    global _closer
    entry = _closer
    if entry is None or entry[0] != os.getpid():
        with _pools_lock:
            if _closer is None or _closer[0] != os.getpid():
                q: queue.SimpleQueue[int] = queue.SimpleQueue()
                threading.Thread(target=_close_forever, args=(q,), name="ccs-volume-close",
                                 daemon=True).start()
                _closer = (os.getpid(), q)
            entry = _closer
    return entry[1]


def _close_forever(q: queue.SimpleQueue[int]) -> None:
    while True:
        _close(q.get())
