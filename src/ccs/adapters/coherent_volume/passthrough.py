"""``CoherentVolume`` with ``CCS_DISABLE=1``: plain file reads and writes, coherence off.

``CoherentVolume(...)`` built while the switch is on returns a ``PassThroughVolume`` (still an
instance of ``CoherentVolume``, ``coherence_disabled`` True). The state (``.ccs/state.db`` or the
engine) is not opened; files are read and written directly, with the same confinement as
always: paths are resolved and refused outside the root, in ``.ccs/``, or outside the managed
globs, files are opened without following symlinks, and every write is atomic (temp file,
fsync, rename). ``managed=`` must be given: the globs recorded in the state are not read.

What is lost while it is on: there are no versions (reads and writes report ``version`` None),
no views and no checks (a write derived from a stale read lands: last write wins; ``write_cas``
and ``write_cas_at`` do not compare), ``publish`` writes file by file (not all-or-none). A
coherent volume still running on the same root sees these writes as edits made outside the
volume: it adopts them on read and refuses to overwrite them unread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from ccs.adapters.coherent_volume.boundary import typed
from ccs.adapters.coherent_volume.confined import Root
from ccs.adapters.coherent_volume.options import check_options
from ccs.adapters.coherent_volume.paths import normalize_globs
from ccs.adapters.coherent_volume.volume import CoherentVolume, _version_arg
from ccs.client.agent import Versioned
from ccs.merge.three_way import check_how
from ccs.protocol.errors import InvalidRequest, InvalidSwitch


class PassThroughVolume(CoherentVolume):
    coherence_disabled = True

    @typed
    def __init__(self, root: str | os.PathLike[str], managed: Any = ("**",), *,
                 engine: str | None = None, agent: str | None = None, on_stale_write: str = "refuse",
                 on_stale_read: str = "adopt", encoding: str | None = "utf-8", durable: bool = True,
                 lock_timeout: float = 30.0, strategy: str = "lazy", crash_recovery: Any = None,
                 limits: Any = None, clock: Any = None) -> None:
        root_s = check_options(root, engine=engine, agent=agent, encoding=encoding, durable=durable,
                               lock_timeout=lock_timeout, strategy=strategy,
                               crash_recovery=crash_recovery, limits=limits,
                               on_stale_write=on_stale_write, on_stale_read=on_stale_read)
        if managed is None:
            raise InvalidSwitch(
                "CCS_DISABLE is set and managed= is None: the globs recorded in the volume state "
                "are not read while coherence is off", parameter="CCS_DISABLE",
                recover="pass managed= (SWG_MANAGED for the MCP server) with this workspace's "
                        "globs, or unset CCS_DISABLE; nothing was opened")
        self.root = os.path.realpath(root_s)
        self.managed = normalize_globs(managed)
        self.encoding = encoding
        self.durable = durable
        self.engine = None
        self.core = None
        self.agent_name = agent
        self.fs = Root(self.root)

    def _read(self, path: str | os.PathLike[str]) -> tuple[str, Versioned]:
        aid = self._id(path)
        return aid, self._fresh(aid)

    def _fresh(self, aid: str, *, acquire: bool = False, adopt: bool | None = None) -> Versioned:
        data = self.fs.read(aid)
        return Versioned(data, None, None, absent=data is None)  # type: ignore[arg-type]

    @typed
    def read_with_version(self, path: str | os.PathLike[str]) -> Versioned:
        aid, v = self._read(path)
        return Versioned(self._decode(v.value, aid), None, None, absent=v.absent)  # type: ignore[arg-type]

    @typed
    def reacquire(self, path: str | os.PathLike[str], default: Any = None) -> Any:
        return self.read(path, default)

    @typed
    def version(self, path: str | os.PathLike[str]) -> None:
        self._id(path)
        return None

    @typed
    def write(self, path: str | os.PathLike[str], data: bytes | str, *, merge: Any = None) -> None:
        """Writes as is: nothing is refused while coherence is off, so nothing is merged."""
        if merge is not None:
            check_how(merge)
        aid = self._id(path)
        self.fs.write_atomic(aid, self._encode(data, aid), durable=self.durable)

    @typed
    def delete(self, path: str | os.PathLike[str]) -> None:
        self.fs.remove(self._id(path), durable=self.durable)

    @typed
    def write_cas_at(self, path: str | os.PathLike[str], expected_version: int,
                     data: bytes | str, *, merge: Any = None) -> None:
        """Writes without comparing: there are no versions while coherence is off."""
        _version_arg(expected_version, self._id(path))
        return self.write(path, data, merge=merge)

    def write_cas(self, path: str | os.PathLike[str], fn: Callable[[Any], bytes | str],
                  retries: int = 16, backoff: float = 0.002) -> None:
        """Read, ``fn``, write, once: not atomic while coherence is off."""
        return self.write(path, fn(self.read_with_version(path).value))

    @typed
    def publish(self, files: Mapping[str, bytes | str],
                expected: Mapping[str, int] | None = None) -> dict[str, None]:
        """Writes each file in turn: not all-or-none while coherence is off."""
        if not isinstance(files, Mapping) or not files:
            raise InvalidRequest("publish needs a mapping of at least one path to its content")
        payloads = {path: self._encode(data, self._id(path)) for path, data in files.items()}
        for path, payload in payloads.items():
            self.write(path, payload)
        return dict.fromkeys(payloads)

    @typed
    def status(self, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        if path is not None:
            self._id(path)
        return {"coherence_disabled": True, "root": self.root, "managed": list(self.managed),
                "note": "CCS_DISABLE is set: no versions are kept; files are read and written as they are"}

    def repair(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        self.fs.close()

    def __repr__(self) -> str:
        return (f"PassThroughVolume({self.root!r}, managed={self.managed!r}, "
                "coherence disabled by CCS_DISABLE)")
