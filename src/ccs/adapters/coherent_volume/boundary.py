"""The volume's surface raises ``CoherenceError``s only.

File operations already raise typed errors (``confined.py``); this is the net under everything
else that can fail outside the volume's control: an ``OSError`` from the operating system, a
state file SQLite finds damaged in the middle of a run, a name or content that cannot be encoded.
Each becomes a typed error that keeps the original as its ``__cause__``. Errors raised by a
caller's own code (the function given to ``write_cas``) are not touched.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from ccs.adapters.coherent_volume.confined import fs_error
from ccs.protocol.errors import BackendUnavailable, CoherenceError, CorruptState, InvalidValue

F = TypeVar("F", bound=Callable[..., Any])


def _artifact(args: tuple[Any, ...]) -> str | None:
    if not args or not isinstance(args[0], str | os.PathLike):
        return None
    path = os.fspath(args[0])
    return path[:200] if isinstance(path, str) else None


def translate(exc: BaseException, artifact: str | None, op: str, engine: str) -> CoherenceError | None:
    """The typed error for ``exc``, or None to let it through."""
    if isinstance(exc, CoherenceError):
        return None
    if isinstance(exc, OSError):
        return fs_error(artifact, exc, op)
    if isinstance(exc, sqlite3.OperationalError):
        return BackendUnavailable(f"the volume state {engine} could not be used: {exc}",
                                  artifact=artifact, engine=engine)
    if isinstance(exc, sqlite3.DatabaseError):
        return CorruptState(f"the volume state {engine} is damaged: {exc}", artifact=artifact,
                            engine=engine,
                            recover="the state file is damaged; nothing was written. Restore it from "
                                    "a backup, or move .ccs/ away: files on disk are then adopted "
                                    "as new versions on their next read")
    if isinstance(exc, UnicodeError):
        return InvalidValue(f"{artifact!r}: {exc}", artifact=artifact,
                            recover="pass text the volume's encoding can represent, or bytes")
    return None


def typed(fn: F) -> F:
    """Decorate a public ``CoherentVolume`` method (the first argument, if any, is the path)."""
    @functools.wraps(fn)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except Exception as exc:
            err = translate(exc, _artifact(args), fn.__name__, getattr(self, "engine", "?"))
            if err is None:
                raise
            raise err from exc
    return run  # type: ignore[return-value]
