"""A file's new content written and fdatasynced while its commit runs, named only after it.

A durable write costs two syncs, and the volume runs its state's commit before them: the rename
must follow the commit (materializations happen in commit order). The content's fdatasync need
not: ``Root.prepare`` writes the bytes into an unnamed file (``O_TMPFILE``) in the file's
directory and starts its fdatasync on a worker thread, the commit runs meanwhile, and
``Root.finish`` waits for the sync, links the file under a temp name, renames it over the file
and fsyncs the directory: the same two syncs in the same order before the rename, one of them
overlapped with the commit. A process killed before ``finish`` leaves no temp file behind (an
unnamed file vanishes with its last descriptor); a refused commit discards it the same way.
Where ``O_TMPFILE`` or ``/proc/self/fd`` is missing, ``prepare`` returns None and the write
takes the plain path (``Root.write_atomic``) after the commit.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The process's sync workers (a forked child makes its own: threads do not survive fork)."""
    global _pool
    pool = _pool
    if pool is None or pool[0] != os.getpid():
        with _pool_lock:
            if _pool is None or _pool[0] != os.getpid():
                _pool = (os.getpid(), ThreadPoolExecutor(4, thread_name_prefix="ccs-volume-sync"))
            pool = _pool
    return pool[1]


def start_fdatasync(fd: int) -> Future[None]:
    return _executor().submit(os.fdatasync, fd)


@dataclass(slots=True)
class PreparedFile:
    """Content in an unnamed file of a directory, with its fdatasync running."""

    dfd: int  # the directory it was created in (held open; ``finish`` checks it is still there)
    fd: int
    mode: int  # permission bits it was created with (of the file it replaces, else 0o644)
    synced: Future[None]

    def discard(self) -> None:
        """Close it (the file vanishes). Waits for the sync, which still uses the descriptor."""
        fd, dfd, self.fd, self.dfd = self.fd, self.dfd, -1, -1
        if fd < 0:
            return
        try:
            self.synced.exception()
        finally:
            os.close(fd)
            os.close(dfd)
