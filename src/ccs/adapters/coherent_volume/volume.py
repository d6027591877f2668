"""``CoherentVolume``: plain files under a root, shared by processes, with no silent lost update.

Every process opens the same state (``<root>/.ccs/state.db`` by default) and runs the coherence
protocol against it directly: there is no coordinator process whose death strands the others.

A change of a managed file by a volume happens under that file's ``PathLock``:

1. the file on disk is checked against the volume's mark (a foreign edit refuses the write);
2. the commit stores the bytes (a blob, by hash) and then bumps the version in one engine
   transaction; a stale view is refused here and the file is not touched;
3. the file is materialized from the current record (temp file, fsync, ``os.replace``,
   directory fsync) and the mark advanced.

So materializations happen in commit order, and a crash between 2 and 3 leaves the old file and
an older mark; the next access, under the lock, sees disk == mark != record and repairs the file
from the blob. Disk content matching neither mark nor record is a foreign edit: reads adopt it as
a new version (or raise, with ``on_stale_read="raise"``), writes refuse (``ForeignEdit``) unless
``on_stale_write="allow"``.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any

from ccs.adapters.coherent_volume import materialize as mat
from ccs.adapters.coherent_volume import report
from ccs.adapters.coherent_volume.config import check_config, default_agent
from ccs.adapters.coherent_volume.paths import STATE_DIR, check_managed, normalize_globs, resolve
from ccs.client import CoherenceAdapterCore
from ccs.client.agent import MISSING, Versioned
from ccs.coordinator import Clock, CrashRecoveryConfig, Limits
from ccs.protocol.errors import (
    ConflictError,
    ForeignEdit,
    GrantReclaimed,
    InvalidRequest,
    InvalidValue,
    RetriesExhausted,
    StaleEpoch,
    UnknownArtifact,
    VersionConflict,
)

ADOPT_ATTEMPTS = 50


class CoherentVolume:
    """Files under ``root`` matching ``managed`` globs, read and written coherently.

    >>> vol = CoherentVolume(root, managed=("plans/**",))
    >>> plan = vol.read("plans/plan.md")
    >>> vol.write("plans/plan.md", plan + "- step 3\\n")   # StaleView if a peer wrote meanwhile
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        managed: tuple[str, ...] | list[str] | str | None = ("**",),
        *,
        engine: str | None = None,
        agent: str | None = None,
        on_stale_write: str = "refuse",
        on_stale_read: str = "adopt",
        encoding: str | None = "utf-8",
        durable: bool = True,
        lock_timeout: float = 30.0,
        strategy: str = "lazy",
        crash_recovery: CrashRecoveryConfig | None = None,
        limits: Limits | None = None,
        clock: Clock | None = None,
    ) -> None:
        if on_stale_write not in ("refuse", "allow"):
            raise InvalidRequest(f"on_stale_write must be 'refuse' or 'allow', not {on_stale_write!r}")
        if on_stale_read not in ("adopt", "raise"):
            raise InvalidRequest(f"on_stale_read must be 'adopt' or 'raise', not {on_stale_read!r}")
        root_s = os.fspath(root)
        if not os.path.isdir(root_s):
            raise InvalidRequest(f"volume root {root_s!r} is not a directory", path=root_s)
        self.root = os.path.realpath(root_s)
        self.managed = None if managed is None else normalize_globs(managed)
        self.on_stale_write = on_stale_write
        self.on_stale_read = on_stale_read
        self.encoding = encoding
        self.durable = durable
        self.lock_timeout = lock_timeout
        self.state_dir = os.path.join(self.root, STATE_DIR)
        self.lock_dir = os.path.join(self.state_dir, "locks")
        os.makedirs(self.lock_dir, exist_ok=True)
        self.engine = engine or f"sqlite:///{os.path.join(self.state_dir, 'state.db')}"
        # Crash recovery is on as everywhere: this process heartbeats in the background, so what
        # gets fenced is a volume whose process died or froze past the TTL.
        self.core = CoherenceAdapterCore(self.engine, strategy, crash_recovery=crash_recovery,
                                         limits=limits, clock=clock)
        self.coordinator = self.core.coordinator
        self.agent_name = agent or default_agent()
        self.agent = self.core.agent(self.agent_name)
        try:
            self.managed = normalize_globs(check_config(self.agent, self.root, self.managed))
            self.orphans_removed = mat.sweep_temps(self.root)
        except BaseException:
            self.core.close()
            raise

    # --- helpers ------------------------------------------------------------------------------

    def _id(self, path: str | os.PathLike[str]) -> str:
        return check_managed(resolve(self.root, path), self.managed)

    def _file(self, aid: str) -> str:
        return os.path.join(self.root, *aid.split("/"))

    def _lock(self, aid: str) -> mat.PathLock:
        return mat.PathLock(self.lock_dir, aid, self.lock_timeout)

    def _encode(self, data: Any, aid: str) -> bytes:
        if isinstance(data, bytes | bytearray | memoryview):
            return bytes(data)
        if isinstance(data, str):
            return data.encode(self.encoding or "utf-8")
        raise InvalidValue(f"file content must be bytes or str, got {type(data).__name__}",
                           artifact=aid)

    def _decode(self, data: bytes | None, aid: str) -> Any:
        if data is None or self.encoding is None:
            return data
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError as exc:
            raise InvalidValue(f"{aid!r} is not {self.encoding} text: {exc}", artifact=aid,
                               recover="use read_bytes() for binary files") from exc

    def _result(self, aid: str, v: Versioned, default: Any) -> Any:
        if v.value is None:
            if default is MISSING:
                raise UnknownArtifact(f"{aid!r} does not exist" + (" (deleted)" if v.version else ""),
                                      artifact=aid, current_version=v.version,
                                      recover="write the file first, or read it with a default")
            return default
        return self._decode(v.value, aid)

    def _disk_is_ours(self, lk: mat.PathLock, aid: str, dd: str) -> bool:
        """Whether the disk content is something a volume put there (current or not yet updated)."""
        mark = lk.mark()
        if mark is not None and dd == mark.digest:
            return True
        rec = self.coordinator.artifact(aid)
        if rec is not None and rec.version > 0 and dd == (rec.content.digest or mat.ABSENT):
            return True  # the committed content: a crash came after the rename, before the mark
        if mark is not None:
            return False
        if dd == mat.ABSENT:
            return True  # nothing materialized yet, nothing on disk to lose
        return rec is not None and rec.version > 0 and any(dd == h for _, h in rec.history)

    def _foreign(self, aid: str, dd: str, lk: mat.PathLock, version: int, recover: str) -> ForeignEdit:
        mark = lk.mark()
        return ForeignEdit(
            f"{aid!r} was changed on disk outside the volume (sha256 {dd[:12]}, the volume last "
            f"wrote {mark.digest[:12] if mark else 'nothing'})", artifact=aid,
            current_version=version, disk_sha256=dd, volume_sha256=None if mark is None else mark.digest,
            recover=recover)

    def _guard(self, lk: mat.PathLock, aid: str, fpath: str) -> None:
        """Refuse a commit over a foreign edit (unless ``on_stale_write='allow'``)."""
        if self.on_stale_write == "allow":
            return
        dd = mat.digest(mat.read_disk(fpath))
        if not self._disk_is_ours(lk, aid, dd):
            rec = self.coordinator.artifact(aid)
            raise self._foreign(aid, dd, lk, 0 if rec is None else rec.version,
                                "read() the file to adopt the edit on disk as a new version, "
                                "re-derive your change from it, and write again")

    def _materialize(self, lk: mat.PathLock, aid: str, fpath: str,
                     known: tuple[int, bytes | None] | None = None) -> int:
        """Put the *current* record on disk (never an older one) and advance the mark."""
        rec = self.coordinator.artifact(aid)
        if rec is None or rec.version == 0:
            return 0
        rd = rec.content.digest or mat.ABSENT
        if known is not None and known[0] == rec.version:
            data = known[1]
        else:
            data = self.coordinator.fetch(rec.content, aid)
        if data is None:
            mat.remove(fpath, durable=self.durable)
        else:
            mat.write_atomic(fpath, data, durable=self.durable)
        lk.set_mark(rec.version, rd)
        return rec.version

    def _reconcile(self, lk: mat.PathLock, aid: str, fpath: str, *, acquire: bool,
                   adopt: bool) -> Versioned:
        """Under the lock: make disk, record and this agent's view agree, and return the view."""
        mat.clean_temps(fpath)
        for _ in range(ADOPT_ATTEMPTS):
            if acquire:
                self.agent.acquire(aid, None)
                v = self.agent.snapshot(aid, None)
            else:
                v = self.agent.read_with_version(aid, None)
            disk = mat.read_disk(fpath)
            dd, rd = mat.digest(disk), mat.digest(v.value)
            if dd == rd:
                mark = lk.mark()
                if mark is None or mark.version != v.version or mark.digest != rd:
                    lk.set_mark(v.version, rd)
                return v
            if self._disk_is_ours(lk, aid, dd):
                self._materialize(lk, aid, fpath, (v.version, v.value))
                return v
            if not adopt and v.version > 0:
                raise self._foreign(aid, dd, lk, v.version,
                                    "reacquire() the file to adopt the edit on disk as a new "
                                    "version, or write with on_stale_write='allow' to replace it")
            try:
                version = self.agent.delete(aid) if disk is None else self.agent.write(aid, disk)
            except ConflictError:
                continue
            lk.set_mark(version, dd)
            return Versioned(disk, version, v.epoch)
        raise RetriesExhausted(f"could not adopt the edit of {aid!r}: peers kept committing",
                               artifact=aid)

    def _fresh(self, aid: str, *, acquire: bool = False, adopt: bool | None = None) -> Versioned:
        with self._lock(aid) as lk:
            return self._reconcile(lk, aid, self._file(aid), acquire=acquire,
                                   adopt=self.on_stale_read == "adopt" if adopt is None else adopt)

    # --- reads --------------------------------------------------------------------------------

    def _read(self, path: str | os.PathLike[str]) -> tuple[str, Versioned]:
        aid = self._id(path)
        v = self.agent.snapshot(aid, None)  # this agent's view: the version a later write derives from
        if mat.read_disk(self._file(aid)) != v.value:
            v = self._fresh(aid)
        return aid, v

    def read(self, path: str | os.PathLike[str], default: Any = MISSING) -> Any:
        """The file's content (``str`` with an ``encoding``, else ``bytes``), registering this
        agent's view of it. A file changed outside the volume is adopted as a new version (or
        raises ``ForeignEdit`` with ``on_stale_read='raise'``)."""
        return self._result(*self._read(path), default)

    def read_bytes(self, path: str | os.PathLike[str], default: Any = MISSING) -> Any:
        aid, v = self._read(path)
        return v.value if v.value is not None else self._result(aid, v, default)

    def read_with_version(self, path: str | os.PathLike[str]) -> Versioned:
        """Content (``None`` if absent), version and epoch, as of a fresh check with the store."""
        aid = self._id(path)
        v = self.agent.read_with_version(aid, None)
        if mat.read_disk(self._file(aid)) != v.value:
            v = self._fresh(aid)
        return Versioned(self._decode(v.value, aid), v.version, v.epoch)

    def reacquire(self, path: str | os.PathLike[str], default: Any = None) -> Any:
        """Recover from a refused write: refresh to the current version (adopting a foreign edit
        on disk, whatever ``on_stale_read`` says) and return its content; re-derive and write."""
        aid = self._id(path)
        v = self._fresh(aid, acquire=True, adopt=True)
        return self._result(aid, v, default)

    def version(self, path: str | os.PathLike[str]) -> int:
        rec = self.coordinator.artifact(self._id(path))
        return 0 if rec is None else rec.version

    # --- writes -------------------------------------------------------------------------------

    def write(self, path: str | os.PathLike[str], data: bytes | str) -> int:
        """Commit ``data`` as derived from this agent's last view of the file; returns the new
        version. ``StaleView`` if a peer committed since that view, ``ForeignEdit`` if the file
        was changed outside the volume: in both cases nothing is written."""
        aid = self._id(path)
        payload = self._encode(data, aid)
        fpath = self._file(aid)
        with self._lock(aid) as lk:
            self._guard(lk, aid, fpath)
            version = self.agent.write(aid, payload)
            self._materialize(lk, aid, fpath, (version, payload))
        return version

    def delete(self, path: str | os.PathLike[str]) -> int:
        aid = self._id(path)
        fpath = self._file(aid)
        with self._lock(aid) as lk:
            self._guard(lk, aid, fpath)
            version = self.agent.delete(aid)
            self._materialize(lk, aid, fpath, (version, None))
        return version

    def write_cas_at(self, path: str | os.PathLike[str], expected_version: int,
                     data: bytes | str) -> int:
        """Compare-and-set: lands only if the file is still at ``expected_version``
        (``VersionConflict`` otherwise, nothing written)."""
        aid = self._id(path)
        payload = self._encode(data, aid)
        fpath = self._file(aid)
        with self._lock(aid) as lk:
            self._guard(lk, aid, fpath)
            version = self.agent.commit_cas(aid, expected_version, payload)
            self._materialize(lk, aid, fpath, (version, payload))
        return version

    def write_cas(self, path: str | os.PathLike[str], fn: Callable[[Any], bytes | str],
                  retries: int = 16, backoff: float = 0.002) -> int:
        """Read -> ``fn(content)`` -> compare-and-set, retried on conflict. ``fn`` gets ``None``
        for an absent file and must be safe to call again. ``RetriesExhausted`` when every
        attempt lost its race."""
        if retries < 0:
            raise ValueError("retries must be >= 0")
        last: ConflictError | None = None
        v = None
        for attempt in range(retries + 1):
            v = self.read_with_version(path)
            try:
                return self.write_cas_at(path, v.version, fn(v.value))
            except (VersionConflict, StaleEpoch, GrantReclaimed) as exc:
                last = exc
                if backoff:
                    time.sleep(random.uniform(0, backoff * 2 ** min(attempt, 6)))
        raise RetriesExhausted(
            f"write_cas on {os.fspath(path)!r} lost {retries + 1} races in a row",
            artifact=self._id(path), current_version=None if last is None else last.current_version,
            attempts=retries + 1, last_error=None if last is None else last.to_dict())

    def publish(self, files: Mapping[str, bytes | str],
                expected: Mapping[str, int] | None = None) -> dict[str, int]:
        """Commit several files atomically: all land or none (``TransactionConflict`` lists every
        file that moved). Each file is checked against the version this volume last read it at,
        or against ``expected[path]`` when given. Returns the new version of each path."""
        if not files:
            raise InvalidRequest("publish needs at least one file")
        by_id: dict[str, tuple[str, bytes]] = {}
        for path, data in files.items():
            aid = self._id(path)
            if aid in by_id:
                raise InvalidRequest(f"{path!r} and {by_id[aid][0]!r} are the same file", artifact=aid)
            by_id[aid] = (path, self._encode(data, aid))
        pins = {self._id(p): int(v) for p, v in (expected or {}).items()}
        with ExitStack() as stack:
            locks = {aid: stack.enter_context(self._lock(aid)) for aid in sorted(by_id)}
            for aid, lk in locks.items():
                self._guard(lk, aid, self._file(aid))
            txn = self.agent.transaction()
            for aid, version in pins.items():
                txn.reads[aid] = (version, None)
            for aid, (_, payload) in sorted(by_id.items()):
                txn.write(aid, payload)
            result = txn.commit()
            for aid, lk in locks.items():
                self._materialize(lk, aid, self._file(aid),
                                  (result.versions[aid].version, by_id[aid][1]))
        return {by_id[aid][0]: c.version for aid, c in result.versions.items()}

    # --- maintenance and inspection -----------------------------------------------------------

    def status(self, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Versions and disk state (``clean``, ``pending`` repair, ``foreign`` edit) of the
        managed files the state knows, or of one path."""
        return report.status(self, path)

    def repair(self) -> dict[str, int]:
        """Bring every known file's disk copy up to date (adopting foreign edits) and delete
        orphan temp files. Normal access repairs lazily; this does it all at once."""
        return report.repair(self)

    def close(self) -> None:
        self.core.close()

    def __enter__(self) -> CoherentVolume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CoherentVolume({self.root!r}, managed={self.managed!r}, agent={self.agent_name!r})"
