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
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ccs.adapters.coherent_volume.confined import fs_error, sync_dirs
from ccs.adapters.coherent_volume.workers import close_later, pool
from ccs.protocol.errors import BackendUnavailable

ABSENT = "-"  # the digest of "no file"

# Locks lent to their holder's thread (``PathLock.lent``), by (thread, lock directory, name).
_lent: dict[tuple[int, int, int, str], PathLock] = {}


def digest(data: bytes | None) -> str:
    return ABSENT if data is None else hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Mark:
    version: int
    digest: str  # ABSENT when the volume removed (or never created) the file


class PathLock:
    """Exclusive lock on one managed path, plus its mark. Not re-entrant (flock semantics), except
    where its holder lends it (``lent``).

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
        self.borrowed = False
        # Directories of renames done under this lock whose fsync runs once it is let go (the
        # writer's call returns only after it), and the version those renames landed.
        self.dir_syncs: list[int] = []
        self.landed = 0
        self.held: list[int] = []  # O_PATH descriptors of replaced files, closed after the lock

    def _lend_key(self) -> tuple[int, int, int, str]:
        st = os.fstat(self.lock_dir) if isinstance(self.lock_dir, int) else os.stat(self.lock_dir)
        return (threading.get_ident(), st.st_dev, st.st_ino, self.name)

    @contextmanager
    def lent(self) -> Iterator[None]:
        """While this block runs, the same lock taken again by this thread (through any volume on
        the same state) is this one, borrowed: a caller's function that runs under the lock (in
        ``write_cas``) can still use the file instead of waiting for itself until the timeout."""
        key = self._lend_key()
        before = _lent.get(key)
        _lent[key] = self
        try:
            yield
        finally:
            if before is None:
                del _lent[key]
            else:
                _lent[key] = before

    def __enter__(self) -> PathLock:
        if _lent:  # something is lent: maybe this very lock, to this thread
            lender = _lent.get(self._lend_key())
            if lender is not None and lender.fd >= 0:
                self.fd, self.borrowed = lender.fd, True
                return self
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
        """flock with a deadline: a holder that is stopped (not dead) must not hang everyone.

        A free lock is taken at once. A held one is waited for in the kernel's queue, which hands
        it over the moment its holder lets go (polling would leave it idle for up to a poll
        interval, and burn the CPU the holder needs); a blocking flock cannot time out, so a
        helper thread does the waiting and gives the lock back if the deadline passed first."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waiter = _LockWaiter(fd)
        if not waiter.wait(self.timeout):
            raise BackendUnavailable(
                f"the file lock of {self.artifact_id!r} was held by another process for "
                f"more than {self.timeout:g}s", artifact=self.artifact_id, lock=self.path,
                recover="another process holds this file's lock (stopped or hung?); "
                        "retry later, nothing was written")

    def __exit__(self, *exc: object) -> None:
        fd, self.fd = self.fd, -1
        if self.borrowed:
            self.borrowed = False
        elif fd >= 0:
            os.close(fd)  # closing the last descriptor releases the flock
        if self.dir_syncs or self.held:
            try:
                if self.dir_syncs:
                    self._sync_dirs()
            finally:
                if self.held:
                    held, self.held = self.held, []
                    close_later(held)

    def _sync_dirs(self) -> None:
        """The directory fsync of what was renamed under the lock, after letting go of it: the
        next holder's commit and file write overlap this sync instead of queueing behind it,
        and its own syncs cover this rename too if the filesystem commits them together. The
        rename is visible, and only its power-loss durability is pending, so nothing a reader
        or a SIGKILL sees changes; the caller is not told the write is done before this ends."""
        try:
            sync_dirs(self.dir_syncs)
        except OSError as exc:
            err = fs_error(self.artifact_id, exc, "sync the directory")
            err.details["committed_version"] = self.landed
            err.recover = (f"the change WAS committed as version {self.landed} and is on disk, "
                           "only its directory could not be synced; do not write it again. "
                           f"{err.recover}")
            raise err from exc

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


class _LockWaiter:
    """A blocking ``flock`` on a duplicate of ``fd`` (same open file description, so the lock it
    takes is ``fd``'s), on a worker thread. If the caller stops waiting first, the thread lets go
    of the lock as soon as it gets it."""

    def __init__(self, fd: int) -> None:
        self.fd = os.dup(fd)
        self.cond = threading.Condition()
        self.finished = False
        self.abandoned = False
        self.error: OSError | None = None
        # Up to 32 waits at once per process; beyond that a wait may queue (its deadline runs).
        pool("lock-wait", 32).submit(self._run)

    def _run(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            self.error = exc
        with self.cond:
            self.finished = True
            if self.abandoned and self.error is None:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.cond.notify_all()

    def wait(self, timeout: float) -> bool:
        """True once the lock is held; False (and it will be let go) if ``timeout`` passed first."""
        with self.cond:
            self.cond.wait_for(lambda: self.finished, timeout)
            if not self.finished:
                self.abandoned = True
                return False
        if self.error is not None:
            raise self.error
        return True
