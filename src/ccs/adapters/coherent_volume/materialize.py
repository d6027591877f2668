"""Putting committed bytes on disk: atomically, in commit order, and never over a foreign edit.

* ``write_atomic``: temp file in the same directory, write, fsync, ``os.replace``, fsync of the
  directory. A reader sees the old file or the new one, never a partial one, whatever kills the
  writer (SIGKILL included; power loss rests on the two fsyncs).
* ``PathLock``: a ``flock`` on ``.ccs/locks/<hash of the id>``, taken around every change of a
  managed file by a volume. The lock file also holds the *mark*: the version and digest the volume
  last put on disk for that file. Disk content that matches the mark but not the record is a
  materialization still to be done (or cut short by a crash); content that matches neither is a
  foreign edit. flock is released by the kernel when its holder dies, and is reliable on local
  filesystems only (not NFS).
* Temp files of a path are only ever created under its lock, so whoever holds the lock may delete
  every temp file of that path it finds: they are orphans of a writer that died.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import secrets
import time
from dataclasses import dataclass

from ccs.adapters.coherent_volume.paths import STATE_DIR, TEMP_MARK
from ccs.protocol.errors import BackendUnavailable

ABSENT = "-"  # the digest of "no file"


def digest(data: bytes | None) -> str:
    return ABSENT if data is None else hashlib.sha256(data).hexdigest()


def read_disk(path: str) -> bytes | None:
    """The file's bytes, or None when there is no file."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


@dataclass(frozen=True, slots=True)
class Mark:
    version: int
    digest: str  # ABSENT when the volume removed (or never created) the file


class PathLock:
    """Exclusive lock on one managed path, plus its mark. Not re-entrant (flock semantics)."""

    def __init__(self, lock_dir: str, artifact_id: str, timeout: float = 30.0) -> None:
        name = hashlib.sha256(artifact_id.encode()).hexdigest()[:40]
        self.path = os.path.join(lock_dir, name)
        self.artifact_id = artifact_id
        self.timeout = timeout
        self.fd = -1

    def __enter__(self) -> PathLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
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
        raw = os.pread(self.fd, 128, 0)
        try:
            version, dig = raw.decode().split()
            return Mark(int(version), dig)
        except ValueError:
            return None  # never written, or torn by a crash: callers fall back to the history

    def set_mark(self, version: int, dig: str) -> None:
        text = f"{version} {dig}\n".encode()
        os.pwrite(self.fd, text, 0)
        os.ftruncate(self.fd, len(text))


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_prefix(path: str) -> str:
    head, name = os.path.split(path)
    return os.path.join(head, f".{name}{TEMP_MARK}")


def write_atomic(path: str, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` so that no reader or crash ever sees a partial file."""
    parent = os.path.dirname(path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
        os.makedirs(parent, exist_ok=True)
    tmp = f"{temp_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644 if mode is None else mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    if durable:
        _fsync_dir(parent)


def remove(path: str, *, durable: bool = True) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    if durable:
        _fsync_dir(os.path.dirname(path))


def clean_temps(path: str) -> int:
    """Delete the temp files of ``path``. Call only under its ``PathLock``."""
    prefix = temp_prefix(path)
    head, base = os.path.split(prefix)
    try:
        names = os.listdir(head or ".")
    except FileNotFoundError:
        return 0
    n = 0
    for name in names:
        if name.startswith(base):
            try:
                os.unlink(os.path.join(head, name))
                n += 1
            except FileNotFoundError:
                pass
    return n


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temps(root: str) -> int:
    """Delete orphan temp files under ``root`` whose writer process is gone (no lock needed:
    a live writer's temp file is left alone)."""
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root and STATE_DIR in dirnames:
            dirnames.remove(STATE_DIR)
        for name in filenames:
            if TEMP_MARK not in name or not name.startswith("."):
                continue
            try:
                pid = int(name.rsplit(TEMP_MARK, 1)[1].split("-", 1)[0])
            except ValueError:
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                try:
                    os.unlink(os.path.join(dirpath, name))
                    n += 1
                except OSError as exc:
                    if exc.errno != errno.ENOENT:
                        raise
    return n
