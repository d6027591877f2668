"""Per-file locks and marks: what orders a volume's changes of one file and tells its own writes
from foreign edits.

``PathLock``: a ``flock`` on ``.ccs/locks/<hash of the id>``, taken around every change of a
managed file by a volume. The lock file also holds the *mark*: the version and digest the volume
last put on disk for that file, and the id of the state it was committed to. Disk content that
matches the mark but not the record is a materialization still to be done (or cut short by a
crash); content that matches neither is a foreign edit. A mark of another state (the state was
lost or replaced while the lock files stayed) proves nothing and is ignored, so the disk content
counts as foreign. flock is released by the kernel when its holder dies, and is reliable on local
filesystems only (not NFS). The file operations themselves are in ``confined.py``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from dataclasses import dataclass

from ccs.adapters.coherent_volume.confined import fs_error
from ccs.protocol.errors import BackendUnavailable

ABSENT = "-"  # the digest of "no file"


def digest(data: bytes | None) -> str:
    return ABSENT if data is None else hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Mark:
    version: int
    digest: str  # ABSENT when the volume removed (or never created) the file


class PathLock:
    """Exclusive lock on one managed path, plus its mark. Not re-entrant (flock semantics).

    ``lock_dir`` is the lock directory, open (a descriptor: the lock file is opened relative to it,
    never through a symlink) or as a path. ``state_id`` names the state the marks belong to."""

    def __init__(self, lock_dir: int | str, artifact_id: str, timeout: float = 30.0,
                 state_id: str = "") -> None:
        self.name = hashlib.sha256(artifact_id.encode()).hexdigest()[:40]
        self.lock_dir = lock_dir
        self.path = self.name if isinstance(lock_dir, int) else os.path.join(lock_dir, self.name)
        self.artifact_id = artifact_id
        self.timeout = timeout
        self.state_id = state_id
        self.fd = -1

    def __enter__(self) -> PathLock:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            if isinstance(self.lock_dir, int):
                fd = os.open(self.name, flags, 0o644, dir_fd=self.lock_dir)
            else:
                fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            raise fs_error(self.artifact_id, exc, "open the lock file", lock=self.path) from exc
        try:
            self._acquire(fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        return self

    def _acquire(self, fd: int) -> None:
        """flock with a deadline: a holder that is stopped (not dead) must not hang everyone."""
        deadline = None
        pause = 0.00005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                now = time.monotonic()
                deadline = deadline or now + self.timeout
                if now >= deadline:
                    raise BackendUnavailable(
                        f"the file lock of {self.artifact_id!r} was held by another process for "
                        f"more than {self.timeout:g}s", artifact=self.artifact_id, lock=self.path,
                        recover="another process holds this file's lock (stopped or hung?); "
                                "retry later, nothing was written") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def __exit__(self, *exc: object) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)  # closing the last descriptor releases the flock

    def mark(self) -> Mark | None:
        """The mark, if it was written for this state. None when never written, torn by a crash
        (callers then fall back to the record's history), or written for another state."""
        raw = os.pread(self.fd, 256, 0)
        try:
            version, dig, state = raw.decode().split()
            if state != self.state_id or not self.state_id:
                return None
            return Mark(int(version), dig)
        except ValueError:
            return None

    def set_mark(self, version: int, dig: str) -> None:
        text = f"{version} {dig} {self.state_id}\n".encode()
        os.pwrite(self.fd, text, 0)
        os.ftruncate(self.fd, len(text))
