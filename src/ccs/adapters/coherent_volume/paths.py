"""Path normalization and confinement for a volume (pure apart from resolving symlinks).

An artifact id is the normalized path of a file relative to the volume root, with ``/``
separators: ``plans/./a.md`` and ``plans//a.md`` both name ``plans/a.md``. A path that names
its file through a symlink is resolved first, so a file has one id however it is reached.
Refused with ``PathOutsideWorkspace``: absolute paths, any ``..`` segment, a symlink that
resolves outside the root, and anything inside the state directory ``.ccs/``; with its subclass
``NotAFile``: a directory, a special file, a symlink loop, a path below a regular file. Refused
with ``InvalidIdentifier``: a name that is not valid Unicode (lone surrogates). Refused with
``UnmanagedPath``: a path the volume's ``managed`` globs do not match.

Resolving only names the file; the reads and writes themselves never follow a symlink
(``confined.py``), so a symlink swapped in after this check cannot lead them out of the root.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable
from functools import lru_cache

from ccs.protocol.errors import (
    FileSystemError,
    InvalidIdentifier,
    InvalidRequest,
    NotAFile,
    PathOutsideWorkspace,
    UnmanagedPath,
)
from ccs.protocol.ids import check_artifact_id

STATE_DIR = ".ccs"
TEMP_MARK = ".ccs-tmp-"  # temp files are ``.<name>.ccs-tmp-<pid>-<hex>``


def _refuse(path: object, why: str, **details: object) -> PathOutsideWorkspace:
    return PathOutsideWorkspace(f"path {str(path)[:200]!r} refused: {why}", artifact=str(path)[:200],
                                reason=why, **details)


def _not_a_file(path: object, why: str, **details: object) -> NotAFile:
    return NotAFile(f"path {str(path)[:200]!r} refused: {why}", artifact=str(path)[:200],
                    reason=why, **details)


def _check_text(path: str, what: str) -> None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as exc:
        shown = path.encode("utf-8", "backslashreplace").decode()[:200]
        raise InvalidIdentifier(f"{what} {shown!r} is not valid Unicode ({exc.reason})", artifact=shown,
                                recover="use a file name that is valid UTF-8; nothing was changed") from None


def split_relative(path: object) -> list[str]:
    """Segments of a relative path, with ``.`` and empty segments dropped; refuses the rest."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    if isinstance(path, bytes):
        raise _refuse(path, "paths must be str, not bytes")
    if not isinstance(path, str):
        raise _refuse(path, f"paths must be str, got {type(path).__name__}")
    if "\x00" in path:
        raise _refuse(path, "NUL byte in path")
    _check_text(path, "path")
    if path.startswith(("/", "\\")) or os.path.isabs(path) or re.match(r"^[A-Za-z]:", path):
        raise _refuse(path, "absolute paths are not accepted; use a path relative to the volume root")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts:
        raise _refuse(path, "empty path")
    if ".." in parts:
        raise _refuse(path, "'..' segments are not accepted")
    if parts[0].casefold() == STATE_DIR:
        raise _refuse(path, f"{STATE_DIR}/ is the volume's state directory")
    if TEMP_MARK in parts[-1]:
        raise _refuse(path, "names containing .ccs-tmp- are reserved for the volume's temp files")
    return parts


def resolve(root_real: str, path: object) -> str:
    """The artifact id of ``path`` (see the module docstring). ``root_real`` is ``realpath(root)``."""
    parts = split_relative(path)
    mode = _plain_mode(root_real, parts)
    if mode == _SLOW:
        parts, mode = _resolved(root_real, path, parts)
    if mode is not None and stat.S_ISDIR(mode):
        raise _not_a_file(path, "it names a directory")
    if mode is not None and not stat.S_ISREG(mode):
        raise _not_a_file(path, "it names a special file (device, pipe or socket)")
    aid = "/".join(parts)
    _check_text(aid, "path")
    return check_artifact_id(aid)


_SLOW = -1  # ``_plain_mode``: a symlink (or something odd) on the way, resolve it in full


def _plain_mode(root_real: str, parts: list[str]) -> int | None:
    """The common case in one ``lstat`` per component: every directory on the way is a real
    directory (no symlink), so the path is its own resolution. Returns the file's mode (None if
    it does not exist yet), or ``_SLOW`` when ``_resolved`` must decide (it also types errors)."""
    here = root_real
    for i, name in enumerate(parts):
        here = f"{here}/{name}"
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            return None  # the rest is still to be created: nothing on the way to resolve
        except OSError:
            return _SLOW
        if stat.S_ISLNK(mode) or (i < len(parts) - 1 and not stat.S_ISDIR(mode)):
            return _SLOW
    return mode


def _resolved(root_real: str, path: object, parts: list[str]) -> tuple[list[str], int | None]:
    """Parts and mode of ``path`` resolved through its symlinks, confined to the root."""
    joined = os.path.join(root_real, *parts)
    try:
        real = os.path.realpath(joined, strict=True)
    except FileNotFoundError:
        real = os.path.realpath(joined)  # a file (or directories) still to be created
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _not_a_file(path, "a symlink on its way loops") from None
        if exc.errno == errno.ENOTDIR:
            raise _not_a_file(path, "a component on its way is a regular file, not a directory") from None
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        raise FileSystemError(f"path {path[:200]!r} cannot be resolved: {name} ({exc.strerror})",
                              artifact=path[:200], errno=name, operation="resolve") from exc
    if real != joined:  # some component is a symlink: confine its target
        if real != root_real and not real.startswith(root_real + os.sep):
            raise _refuse(path, "it resolves through a symlink to a place outside the volume root",
                          resolved=real)
        parts = os.path.relpath(real, root_real).split(os.sep)
        if parts == ["."]:
            raise _refuse(path, "it resolves to the volume root itself")
        if parts[0].casefold() == STATE_DIR:
            raise _refuse(path, f"it resolves into the state directory {STATE_DIR}/")
    try:
        mode = os.lstat(os.path.join(root_real, *parts)).st_mode
    except OSError:
        mode = None  # missing (a new file), or the I/O that follows reports why
    return parts, mode


# --- managed globs ------------------------------------------------------------------------------

def _segment_regex(seg: str) -> str:
    out, i = [], 0
    while i < len(seg):
        c = seg[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = seg.find("]", i + 2 if seg[i + 1:i + 2] in ("!", "]") else i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = seg[i + 1:end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` and ``?`` stay within one segment, ``**`` spans any number of segments (even none)."""
    segs = [s for s in pattern.split("/") if s not in ("", ".")]
    if not segs:
        raise ValueError(f"empty glob {pattern!r}")
    rx = ""
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        if seg == "**":
            rx += ".*" if last else "(?:[^/]+/)*"
        else:
            rx += _segment_regex(seg) + ("" if last else "/")
    return re.compile(rx + r"\Z")


def normalize_globs(managed: Iterable[str] | str) -> tuple[str, ...]:
    if isinstance(managed, str):
        managed = (managed,)
    if not isinstance(managed, Iterable):
        raise _bad_globs(f"managed must be a glob or a sequence of globs, got {type(managed).__name__}")
    out = []
    for g in managed:
        if not isinstance(g, str) or not g.strip():
            raise _bad_globs(f"managed globs must be non-empty strings, got {g!r}")
        if g.startswith("/") or ".." in g.split("/"):
            raise _bad_globs(f"managed glob {g!r} must be relative to the volume root")
        try:
            glob_regex(g)
        except (ValueError, re.error) as exc:
            raise _bad_globs(f"managed glob {g!r} is not a glob: {exc}") from None
        out.append("/".join(s for s in g.split("/") if s not in ("", ".")))
    if not out:
        raise _bad_globs("managed needs at least one glob (use '**' for every file)")
    return tuple(sorted(set(out)))


def _bad_globs(message: str) -> InvalidRequest:
    return InvalidRequest(message, recover="pass managed= as globs relative to the root, e.g. "
                                           "('plans/**', 'CLAUDE.md'); nothing was changed")


def check_managed(artifact_id: str, globs: tuple[str, ...]) -> str:
    if not any(glob_regex(g).match(artifact_id) for g in globs):
        raise UnmanagedPath(f"{artifact_id!r} does not match the volume's managed globs {list(globs)}",
                            artifact=artifact_id, managed=list(globs))
    return artifact_id
