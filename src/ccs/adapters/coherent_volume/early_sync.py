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
from concurrent.futures import Future
from dataclasses import dataclass

from ccs.adapters.coherent_volume.workers import pool


def start_fdatasync(fd: int) -> Future[None]:
    return pool("sync", 4).submit(os.fdatasync, fd)


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
