"""Every file operation of a volume, confined to its root.

The root is held open as a directory descriptor. A file is reached by walking its path one
component at a time, ``os.open(name, O_DIRECTORY | O_NOFOLLOW, dir_fd=parent)``, and is then
opened, created, renamed or unlinked relative to its parent's descriptor, again with
``O_NOFOLLOW``. The check and the use are one system call, so nothing can be swapped in between.

A symlink met on the way is refused (``PathOutsideWorkspace``): ids are resolved through symlinks
before any I/O (``paths.resolve``), so a symlink met here was put there since, say a managed
directory swapped for a link to somewhere outside the root. A component that is a regular file
(``a.txt/b``), a file that is a directory or a device, raise ``NotAFile``; any other ``OSError``
becomes a ``FileSystemError`` that names the errno. Nothing here follows a symlink.

* ``write_atomic``: temp file in the same directory, write, fdatasync, rename over the file,
  fsync of the directory. A reader sees the old file or the new one, never a partial one, whatever
  kills the writer (SIGKILL needs no sync at all: the page cache outlives the process). Power
  loss rests on the two syncs, the minimum: the data (and size) must be on disk before the rename
  can be, or the new name could point at an empty file; the directory must be, or the rename
  itself could be lost. fdatasync skips the timestamps fsync would also write. Threads that
  rename into one directory together share its fsync (``dirsync``: group commit). A volume's
  change defers that fsync until the file's lock is let go, and holds the replaced file open
  (``O_PATH``) across the rename so that freeing its blocks happens later, off the lock.
* Temp files of a path are only created under its ``PathLock``, so whoever holds the lock may
  delete every temp file of that path it finds (``clean_temps``): they are orphans of a writer
  that died. ``sweep_temps`` removes those of dead processes anywhere under the root.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ccs.adapters.coherent_volume.dirsync import fsync_directory
from ccs.adapters.coherent_volume.paths import STATE_DIR, TEMP_MARK
from ccs.protocol.errors import (
    CoherenceError,
    CorruptState,
    FileSystemError,
    NotAFile,
    PathOutsideWorkspace,
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_PATH = getattr(os, "O_PATH", 0)  # Linux


def fs_error(aid: str | None, exc: OSError, op: str, **details: object) -> FileSystemError:
    name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
    return FileSystemError(f"{op} of {aid!r} failed: {name} ({exc.strerror})", artifact=aid,
                           errno=name, operation=op, **details)


F = TypeVar("F", bound=Callable[..., Any])


def _typed(op: str) -> Callable[[F], F]:
    """Any ``OSError`` left untranslated by the method becomes a ``FileSystemError``."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(self: Root, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except OSError as exc:
                raise fs_error(args[0] if args else None, exc, op) from exc
        return run  # type: ignore[return-value]
    return wrap


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISLNK(mode):
        return "a symlink"
    return "a special file (device, pipe or socket)"


class Root:
    """A volume root, held open. ``aid`` arguments are artifact ids: ``/``-separated, normalized,
    confined paths relative to the root (``paths.resolve`` makes them)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.locks_fd = -1

    def close(self) -> None:
        for name in ("locks_fd", "fd"):
            fd = getattr(self, name)
            setattr(self, name, -1)
            if fd >= 0:
                os.close(fd)

    # --- walking -------------------------------------------------------------------------------

    def refusal(self, dfd: int, name: str, aid: str, where: str, exc: OSError | None, *,
                want_dir: bool) -> CoherenceError:
        """The typed error for ``name`` (in ``dfd``) not being what ``where`` needs."""
        try:
            mode = os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode
        except OSError:
            mode = None
        if mode is not None and stat.S_ISLNK(mode):
            return PathOutsideWorkspace(
                f"{aid!r} refused: {where!r} is a symlink, and the volume never follows one while it "
                f"reads or writes (it was put there after the path was resolved?)", artifact=aid,
                reason="symlink met on the way", component=where,
                recover="replace the symlink by the real file or directory, or use the path it "
                        "points to (if inside the workspace); nothing was changed")
        if mode is not None and (not stat.S_ISDIR(mode) if want_dir else not stat.S_ISREG(mode)):
            needs = "a directory" if want_dir else "a regular file"
            return NotAFile(f"{aid!r} refused: {where!r} is {_kind(mode)}, not {needs}", artifact=aid,
                            reason=f"{where} is {_kind(mode)}", component=where)
        if exc is None:
            exc = OSError(errno.EIO, "changed while being checked")
        return fs_error(aid, exc, "open")

    def _step(self, dfd: int, name: str, aid: str, where: str, create: bool) -> int:
        """The descriptor of directory ``name`` in ``dfd``; -1 if it is missing and not ``create``."""
        for _ in range(8):
            try:
                return os.open(name, _DIR_FLAGS, dir_fd=dfd)
            except FileNotFoundError:
                if not create:
                    return -1
                try:
                    os.mkdir(name, 0o777, dir_fd=dfd)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise fs_error(aid, exc, "mkdir", component=where) from exc
            except OSError as exc:
                raise self.refusal(dfd, name, aid, where, exc, want_dir=True) from exc
        raise fs_error(aid, OSError(errno.ENOENT, "directory keeps disappearing"), "mkdir",
                       component=where)

    @contextmanager
    def parent(self, aid: str, *, create: bool = False) -> Iterator[int | None]:
        """The open directory holding ``aid``'s file (None if missing and not ``create``)."""
        segs = aid.split("/")
        fd = os.dup(self.fd)
        try:
            for i, name in enumerate(segs[:-1]):
                nxt = self._step(fd, name, aid, "/".join(segs[:i + 1]), create)
                os.close(fd)
                fd = nxt
                if fd < 0:
                    break
            yield None if fd < 0 else fd
        finally:
            if fd >= 0:
                os.close(fd)

    # --- files ---------------------------------------------------------------------------------

    @_typed("read")
    def read(self, aid: str) -> bytes | None:
        """The file's bytes, or None when there is no file."""
        name = aid.rsplit("/", 1)[-1]
        with self.parent(aid) as dfd:
            if dfd is None:
                return None
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                             dir_fd=dfd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise self.refusal(dfd, name, aid, aid, exc, want_dir=False) from exc
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):  # a directory opens too, a FIFO too
                    raise self.refusal(dfd, name, aid, aid, None, want_dir=False)
                return _read_all(fd, st.st_size)
            finally:
                os.close(fd)

    def _existing(self, dfd: int, name: str, aid: str,
                  hold: list[int] | None = None) -> os.stat_result | None:
        """The file a write replaces (None if there is none); refuses anything but a regular file.

        ``hold``: append an ``O_PATH`` descriptor of that file (Linux), so that the rename over it
        or its unlink only drops a name: freeing the replaced inode's blocks (which on ext4 took
        0.6-4 ms inside ``rename``) happens when the holder closes it, after the file's lock."""
        if hold is None or not _O_PATH:
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                return None
        else:
            try:  # O_PATH opens nothing for I/O (no device side effect); a symlink is not followed
                fd = os.open(name, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            except FileNotFoundError:
                return None
            hold.append(fd)
            st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise self.refusal(dfd, name, aid, aid, None, want_dir=False)
        return st

    def _rename_over(self, dfd: int, tmp: str, name: str, aid: str, durable: bool,
                     dir_syncs: list[int] | None) -> None:
        try:
            os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
        except OSError as exc:
            os.unlink(tmp, dir_fd=dfd)
            raise self.refusal(dfd, name, aid, aid, exc, want_dir=False) from exc
        if durable:
            _sync_dir(dfd, dir_syncs)

    @_typed("write")
    def write_atomic(self, aid: str, data: bytes, *, durable: bool = True,
                     dir_syncs: list[int] | None = None, hold: list[int] | None = None) -> None:
        """Replace the file with ``data`` so that no reader or crash ever sees a partial file.

        ``dir_syncs``: instead of fsyncing the directory here, append a descriptor of it to this
        list; the caller must ``sync_dirs`` it before reporting the write durable (it does so
        after letting go of the file's lock, so the next writer's work overlaps this sync).
        ``hold``: see ``_existing``; the caller closes what it appends."""
        name = aid.rsplit("/", 1)[-1]
        with self.parent(aid, create=True) as dfd:
            assert dfd is not None
            st = self._existing(dfd, name, aid, hold)
            tmp = _temp_name(name)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o644 if st is None else st.st_mode & 0o7777, dir_fd=dfd)
            try:
                _write_all(fd, data)
                if durable:  # the data and the size it is read back with; not timestamps
                    os.fdatasync(fd)
            except BaseException:
                os.close(fd)
                os.unlink(tmp, dir_fd=dfd)
                raise
            os.close(fd)
            self._rename_over(dfd, tmp, name, aid, durable, dir_syncs)

    @_typed("remove")
    def remove(self, aid: str, *, durable: bool = True, dir_syncs: list[int] | None = None,
               hold: list[int] | None = None) -> None:
        name = aid.rsplit("/", 1)[-1]
        with self.parent(aid) as dfd:
            if dfd is None:
                return
            if hold is not None and _O_PATH:
                with contextlib.suppress(OSError):  # the unlink says what is wrong, if anything
                    hold.append(os.open(name, _O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd))
            try:
                os.unlink(name, dir_fd=dfd)
            except FileNotFoundError:
                return
            except OSError as exc:
                raise self.refusal(dfd, name, aid, aid, exc, want_dir=False) from exc
            if durable:
                _sync_dir(dfd, dir_syncs)

    @_typed("clean temp files")
    def clean_temps(self, aid: str) -> int:
        """Delete the temp files of ``aid``. Call only under its ``PathLock``."""
        prefix = f".{aid.rsplit('/', 1)[-1]}{TEMP_MARK}"
        n = 0
        with self.parent(aid) as dfd:
            if dfd is None:
                return 0
            for name in os.listdir(dfd):
                if name.startswith(prefix):
                    try:
                        os.unlink(name, dir_fd=dfd)
                        n += 1
                    except (FileNotFoundError, IsADirectoryError):
                        pass
        return n

    @_typed("sweep temp files")
    def sweep_temps(self) -> int:
        """Delete orphan temp files under the root whose writer process is gone (no lock needed:
        a live writer's temp file is left alone). Never descends through a symlink."""
        n = 0
        for dirpath, dirnames, filenames, dirfd in os.fwalk(dir_fd=self.fd):
            if dirpath == "." and STATE_DIR in dirnames:
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
                        os.unlink(name, dir_fd=dirfd)
                        n += 1
                    except (FileNotFoundError, IsADirectoryError):
                        pass
        return n

    # --- the state directory ------------------------------------------------------------------

    def open_state(self, *, check_db: bool) -> int:
        """Open ``.ccs/locks`` (created if missing) and keep it open as ``locks_fd``: lock files
        are opened relative to it. ``.ccs`` or ``locks`` being anything but a real directory (a
        regular file, a symlink), or with ``check_db`` ``.ccs/state.db`` being anything but a
        regular file, is a ``CorruptState`` and nothing is created."""
        sfd = -1
        try:
            sfd = self._step(self.fd, STATE_DIR, STATE_DIR, STATE_DIR, True)
            self.locks_fd = self._step(sfd, "locks", f"{STATE_DIR}/locks", f"{STATE_DIR}/locks", True)
            if check_db:
                try:
                    mode = os.stat("state.db", dir_fd=sfd, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    mode = stat.S_IFREG
                if not stat.S_ISREG(mode):
                    raise NotAFile(f"{STATE_DIR}/state.db is {_kind(mode)}, not a regular file",
                                   component=f"{STATE_DIR}/state.db")
        except PathOutsideWorkspace as exc:  # NotAFile included
            raise CorruptState(
                f"the volume state under {self.path} is unusable: {exc.message}",
                path=os.path.join(self.path, STATE_DIR), component=exc.details.get("component"),
                recover=f"{STATE_DIR}/ in the workspace root is reserved for the volume's state: move "
                        "whatever is there away (it is not volume state), then open again; nothing "
                        "was changed") from exc
        except OSError as exc:
            raise fs_error(STATE_DIR, exc, "open the state directory") from exc
        finally:
            if sfd >= 0:
                os.close(sfd)
        return self.locks_fd

    def locks_exist(self) -> bool:
        """Whether some volume ever locked a file here: evidence that a state existed."""
        with os.scandir(self.locks_fd) as entries:
            return any(True for _ in entries)


def write_atomic(path: str, data: bytes, *, durable: bool = True) -> None:
    """``Root.write_atomic`` for one file named by path (benchmark baselines, tools)."""
    head, name = os.path.split(os.path.abspath(path))
    root = Root(head)
    try:
        root.write_atomic(name, data, durable=durable)
    finally:
        root.close()


def _sync_dir(dfd: int, dir_syncs: list[int] | None) -> None:
    if dir_syncs is None:
        fsync_directory(dfd)
    else:
        dir_syncs.append(os.dup(dfd))  # the same directory, whatever is renamed meanwhile


def sync_dirs(dir_syncs: list[int]) -> None:
    """fsync (group commit) and close every directory ``dir_syncs`` holds; empties it. The first
    failure is raised after every descriptor is closed."""
    failed: OSError | None = None
    while dir_syncs:
        dfd = dir_syncs.pop()
        try:
            if failed is None:
                fsync_directory(dfd)
        except OSError as exc:
            failed = exc
        finally:
            os.close(dfd)
    if failed is not None:
        raise failed


def _temp_name(name: str) -> str:
    return f".{name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"


def _read_all(fd: int, size: int) -> bytes:
    """The file's bytes, ``size`` (its fstat size) in one read when it did not change meanwhile
    (one byte more is asked for, to see a file that grew); else read until end of file."""
    data = os.read(fd, size + 1)
    if len(data) == size:
        return data
    parts = [data]
    while chunk := os.read(fd, max(size, 1 << 16)):
        parts.append(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
