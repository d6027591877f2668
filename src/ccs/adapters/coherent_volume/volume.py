"""``CoherentVolume``: plain files under a root, shared by processes, with no silent lost update.

Every process opens the same state (``<root>/.ccs/state.db`` by default) and runs the coherence
protocol against it directly: there is no coordinator process whose death strands the others.

A change of a managed file by a volume happens under that file's ``PathLock``:

1. the file on disk is checked against the volume's mark (a foreign edit refuses the write);
2. the commit stores the bytes (a blob, by hash) and then bumps the version in one engine
   transaction; a stale view is refused here and the file is not touched;
3. the file is materialized from the commit just made (temp file, fdatasync, ``os.replace``)
   and the mark advanced; the directory fsync that makes the rename durable runs right after
   the lock is let go (the next writer's commit overlaps it), and the call returns after it.

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

from ccs import killswitch
from ccs.adapters.coherent_volume import materialize as mat
from ccs.adapters.coherent_volume import report
from ccs.adapters.coherent_volume.boundary import typed
from ccs.adapters.coherent_volume.config import check_config, default_agent
from ccs.adapters.coherent_volume.confined import Root
from ccs.adapters.coherent_volume.options import check_options
from ccs.adapters.coherent_volume.paths import STATE_DIR, check_managed, normalize_globs, resolve
from ccs.adapters.coherent_volume.sync import DiskSync
from ccs.backends.base import artifact_key
from ccs.client import CoherenceAdapterCore
from ccs.client.agent import MISSING, Agent, Versioned
from ccs.coordinator import Clock, CrashRecoveryConfig, Limits
from ccs.protocol.errors import (
    ConflictError,
    GrantReclaimed,
    InvalidRequest,
    InvalidValue,
    RetriesExhausted,
    StaleEpoch,
    UnknownArtifact,
    VersionConflict,
)
from ccs.protocol.records import ArtifactRecord


class CoherentVolume(DiskSync):
    """Files under ``root`` matching ``managed`` globs, read and written coherently.

    >>> vol = CoherentVolume(root, managed=("plans/**",))
    >>> plan = vol.read("plans/plan.md")
    >>> vol.write("plans/plan.md", plan + "- step 3\\n")   # StaleView if a peer wrote meanwhile
    """

    coherence_disabled = False  # True on the pass-through CCS_DISABLE builds (passthrough.py)

    def __new__(cls, *args: Any, **kwargs: Any) -> CoherentVolume:
        return super().__new__(killswitch.switched(cls, CoherentVolume, _pass_through))

    @typed
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
        root_s = check_options(root, engine=engine, agent=agent, encoding=encoding, durable=durable,
                               lock_timeout=lock_timeout, strategy=strategy,
                               crash_recovery=crash_recovery, limits=limits,
                               on_stale_write=on_stale_write, on_stale_read=on_stale_read)
        self.root = os.path.realpath(root_s)
        self.managed = None if managed is None else normalize_globs(managed)
        self.on_stale_write = on_stale_write
        self.on_stale_read = on_stale_read
        self.encoding = encoding
        self.durable = durable
        self.lock_timeout = lock_timeout
        self.state_dir = os.path.join(self.root, STATE_DIR)
        self.lock_dir = os.path.join(self.state_dir, "locks")
        self.engine = engine or f"sqlite:///{os.path.join(self.state_dir, 'state.db')}"
        self.fs = Root(self.root)
        self.core = None
        try:
            # .ccs/ and .ccs/locks are held open: lock files are never reached through a symlink.
            self.fs.open_state(check_db=engine is None)
            # Crash recovery is on as everywhere: this process heartbeats in the background, so
            # what gets fenced is a volume whose process died or froze past the TTL.
            self.core = CoherenceAdapterCore(self.engine, strategy, crash_recovery=crash_recovery,
                                             limits=limits, clock=clock)
            self.coordinator = self.core.coordinator
            self.agent_name = agent or default_agent()
            self.agent = self.core.agent(self.agent_name)
            config = check_config(self.agent, self.root, self.managed, self.fs.locks_exist)
            self.managed = normalize_globs(config.managed)
            self.state_id = config.state_id
            self.orphans_removed = self.fs.sweep_temps()
        except BaseException:
            self.close()
            raise

    # --- helpers ------------------------------------------------------------------------------

    def _id(self, path: str | os.PathLike[str]) -> str:
        return check_managed(resolve(self.root, path), self.managed)

    def _lock(self, aid: str) -> mat.PathLock:
        return mat.PathLock(self.fs.locks_fd, aid, self.lock_timeout, self.state_id)

    def _encode(self, data: Any, aid: str) -> bytes:
        if isinstance(data, bytes | bytearray | memoryview):
            return bytes(data)
        if isinstance(data, str):
            try:
                return data.encode(self.encoding or "utf-8")
            except UnicodeEncodeError as exc:
                raise InvalidValue(f"content for {aid!r} cannot be encoded as {self.encoding}: {exc}",
                                   artifact=aid, recover="pass bytes, or text the volume's encoding "
                                   "can represent; nothing was written") from None
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

    # --- reads --------------------------------------------------------------------------------

    def _read(self, path: str | os.PathLike[str]) -> tuple[str, Versioned]:
        aid = self._id(path)
        v = self.agent.snapshot(aid, None)  # this agent's view: the version a later write derives from
        if self.fs.read(aid) != v.value:
            v = self._fresh(aid)
        return aid, v

    @typed
    def read(self, path: str | os.PathLike[str], default: Any = MISSING) -> Any:
        """The file's content (``str`` with an ``encoding``, else ``bytes``), registering this
        agent's view of it. A file changed outside the volume is adopted as a new version (or
        raises ``ForeignEdit`` with ``on_stale_read='raise'``)."""
        return self._result(*self._read(path), default)

    @typed
    def read_bytes(self, path: str | os.PathLike[str], default: Any = MISSING) -> Any:
        aid, v = self._read(path)
        return v.value if v.value is not None else self._result(aid, v, default)

    @typed
    def read_with_version(self, path: str | os.PathLike[str]) -> Versioned:
        """Content (``None`` if absent), version and epoch, as of a fresh check with the store."""
        aid = self._id(path)
        v = self.agent.read_with_version(aid, None)
        if self.fs.read(aid) != v.value:
            v = self._fresh(aid)
        return Versioned(self._decode(v.value, aid), v.version, v.epoch)

    @typed
    def reacquire(self, path: str | os.PathLike[str], default: Any = None) -> Any:
        """Recover from a refused write: refresh to the current version (adopting a foreign edit
        on disk, whatever ``on_stale_read`` says) and return its content; re-derive and write."""
        aid = self._id(path)
        v = self._fresh(aid, acquire=True, adopt=True)
        return self._result(aid, v, default)

    @typed
    def artifact_id(self, path: str | os.PathLike[str]) -> str:
        """The id the state knows ``path`` by (``PathOutsideWorkspace``/``UnmanagedPath`` if it
        is not a file of this volume)."""
        return self._id(path)

    @typed
    def version(self, path: str | os.PathLike[str]) -> int:
        rec = self.coordinator.artifact(self._id(path))
        return 0 if rec is None else rec.version

    # --- writes -------------------------------------------------------------------------------

    @typed
    def write(self, path: str | os.PathLike[str], data: bytes | str, *, merge: Any = None) -> int:
        """Commit ``data`` as derived from this agent's last view of the file; returns the new
        version. ``StaleView`` if a peer committed since that view, ``ForeignEdit`` if the file
        was changed outside the volume (or holds bytes the state never saw): in both cases
        nothing is written. ``merge="auto"`` (or a function of the three contents, as bytes)
        merges a stale write with the current version instead (``Agent.write``); the result
        says whether it merged (``.merged``), ``MergeConflict`` when the edits overlap."""
        aid = self._id(path)
        payload = self._encode(data, aid)
        with self._lock(aid) as lk:
            self._guard(lk, aid)
            if merge is None:
                version = self.agent.write(aid, payload)
                self._land(lk, aid, version, payload)
                return version
            version = self.agent.write(aid, payload, merge=merge)
            self._land(lk, aid, version, version.value)
        return version

    @typed
    def delete(self, path: str | os.PathLike[str]) -> int:
        aid = self._id(path)
        with self._lock(aid) as lk:
            self._guard(lk, aid)
            version = self.agent.delete(aid)
            self._land(lk, aid, version, None)
        return version

    @typed
    def write_cas_at(self, path: str | os.PathLike[str], expected_version: int,
                     data: bytes | str, *, merge: Any = None) -> int:
        """Compare-and-set: lands only if the file is still at ``expected_version``
        (``VersionConflict`` otherwise, nothing written). ``merge`` as in ``write``, with
        ``expected_version`` as the merge base."""
        aid = self._id(path)
        expected_version = _version_arg(expected_version, aid)
        payload = self._encode(data, aid)
        with self._lock(aid) as lk:
            self._guard(lk, aid)
            if merge is None:
                version = self.agent.commit_cas(aid, expected_version, payload)
                self._land(lk, aid, version, payload)
                return version
            version = self.agent.commit_cas(aid, expected_version, payload, merge=merge)
            self._land(lk, aid, version, version.value)
        return version

    def write_cas(self, path: str | os.PathLike[str], fn: Callable[[Any], bytes | str],
                  retries: int = 16, backoff: float = 0.002) -> int:
        """Read -> ``fn(content)`` -> compare-and-set, retried on conflict. ``fn`` gets ``None``
        for an absent file and must be safe to call again. ``RetriesExhausted`` when every
        attempt lost its race.

        Each attempt reads, calls ``fn`` and commits under the file's lock, so volumes (in any
        process) queue for the file instead of racing and retrying. The lock is lent to ``fn``'s
        thread while it runs: ``fn`` may use the volume, even on this file (such a change makes
        this attempt's compare-and-set fail and retry, as when a peer wins the race); other
        threads that ``fn`` waits for must not touch this file."""
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise InvalidRequest(f"retries must be an int >= 0, got {retries!r:.40}")
        last: ConflictError | None = None
        for attempt in range(retries + 1):
            try:
                version = self._cas_attempt(path, fn)
            except _CallerError as failed:
                raise failed.args[0] from None
            if not isinstance(version, ConflictError):
                return version
            last = version
            if backoff:
                time.sleep(random.uniform(0, backoff * 2 ** min(attempt, 6)))
        raise RetriesExhausted(
            f"write_cas on {os.fspath(path)!r} lost {retries + 1} races in a row",
            artifact=self._id(path), current_version=None if last is None else last.current_version,
            attempts=retries + 1, last_error=None if last is None else last.to_dict())

    @typed
    def _cas_attempt(self, path: str | os.PathLike[str],
                     fn: Callable[[Any], bytes | str]) -> int | ConflictError:
        """One ``write_cas`` attempt under the lock: the new version, or the conflict it lost."""
        aid = self._id(path)
        with self._lock(aid) as lk:
            base, current = self._current(lk, aid)
            # the disk now holds the record's content, so ``_guard`` has nothing left to refuse
            try:
                with lk.lent():
                    data = fn(self._decode(current, aid))
            except Exception as exc:
                raise _CallerError(exc) from exc
            payload = self._encode(data, aid)
            try:
                version = self.agent.commit_cas(aid, base, payload)
            except (VersionConflict, StaleEpoch, GrantReclaimed) as exc:
                return exc
            self._land(lk, aid, version, payload)
        return version

    def _current(self, lk: mat.PathLock, aid: str) -> tuple[int, bytes | None]:
        """Under the lock: the committed version and its content, for a compare-and-set.

        The record (one read) is enough when the disk holds its content (same digest): the disk
        bytes are then that content, and nothing else needs fetching. The agent's own read is
        not used here because, after a peer's commit, it is a write transaction of its own
        (registering this agent as a sharer) that the compare-and-set right after it makes moot:
        the commit takes the grant, and no volume can commit this file while the lock is held.
        Disk and record disagreeing (a repair to finish, a foreign edit) take the full path."""
        rec = self.coordinator.backend.get(artifact_key(aid))  # the one read the agent's replaces
        if not isinstance(rec, ArtifactRecord):
            rec = None
        disk = self.fs.read(aid)
        version = 0 if rec is None else rec.version
        recorded = rec.content.digest if rec is not None and version > 0 else None
        if mat.digest(disk) == (recorded or mat.ABSENT):
            return version, disk
        v = self._reconcile(lk, aid, acquire=False, adopt=self.on_stale_read == "adopt")
        return v.version, v.value

    @typed
    def commit_disk(self, path: str | os.PathLike[str], expected_version: int,
                    agent: Agent | None = None) -> int:
        """Commit the bytes now on disk (a tool wrote the file itself, e.g. a coding assistant's
        Edit) as ``agent``'s change of ``expected_version``: compare-and-set, ``VersionConflict``
        if the record moved, and then nothing is recorded. Returns the new version."""
        aid = self._id(path)
        expected_version = _version_arg(expected_version, aid)
        with self._lock(aid) as lk:
            disk = self.fs.read(aid)
            c = (agent or self.agent).commit_payload(
                aid, expected_version, None if disk is None else (disk, "bytes"))
            lk.set_mark(c.version, mat.digest(disk))
        return c.version

    @typed
    def publish(self, files: Mapping[str, bytes | str],
                expected: Mapping[str, int] | None = None) -> dict[str, int]:
        """Commit several files atomically: all land or none (``TransactionConflict`` lists every
        file that moved). Each file is checked against the version this volume last read it at,
        or against ``expected[path]`` when given. Returns the new version of each path."""
        if not isinstance(files, Mapping) or not files:
            raise InvalidRequest("publish needs a mapping of at least one path to its content")
        if expected is not None and not isinstance(expected, Mapping):
            raise InvalidRequest("publish(expected=...) must map paths to versions")
        by_id: dict[str, tuple[str, bytes]] = {}
        for path, data in files.items():
            aid = self._id(path)
            if aid in by_id:
                raise InvalidRequest(f"{path!r} and {by_id[aid][0]!r} are the same file", artifact=aid)
            by_id[aid] = (path, self._encode(data, aid))
        pins = {}
        for path, v in (expected or {}).items():
            aid = self._id(path)
            pins[aid] = _version_arg(v, aid)
        with ExitStack() as stack:
            locks = {aid: stack.enter_context(self._lock(aid)) for aid in sorted(by_id)}
            for aid, lk in locks.items():
                self._guard(lk, aid)
            txn = self.agent.transaction()
            for aid, version in pins.items():
                txn.reads[aid] = (version, None)
            for aid, (_, payload) in sorted(by_id.items()):
                txn.write(aid, payload)
            result = txn.commit()
            for aid, lk in locks.items():
                self._land(lk, aid, result.versions[aid].version, by_id[aid][1])
        return {by_id[aid][0]: c.version for aid, c in result.versions.items()}

    # --- maintenance and inspection -----------------------------------------------------------

    @typed
    def status(self, path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
        """Versions and disk state (``clean``, ``pending`` repair, ``foreign`` edit, or ``error``
        with the typed error) of the managed files the state knows, or of one path."""
        return report.status(self, path)

    @typed
    def repair(self) -> dict[str, int]:
        """Bring every known file's disk copy up to date (adopting foreign edits) and delete
        orphan temp files. Normal access repairs lazily; this does it all at once. A file that
        cannot be repaired safely (a symlink swapped in, a directory in its place) is left
        alone; after the others are done, its typed error is raised (``details.failed`` lists
        every such file)."""
        return report.repair(self)

    def close(self) -> None:
        if self.core is not None:
            self.core.close()
        self.fs.close()

    def __enter__(self) -> CoherentVolume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"CoherentVolume({self.root!r}, managed={self.managed!r}, agent={self.agent_name!r})"


class _CallerError(Exception):
    """Carries an exception raised by ``write_cas``'s ``fn`` past the typed-error boundary."""


def _pass_through() -> type[CoherentVolume]:
    from ccs.adapters.coherent_volume.passthrough import PassThroughVolume
    return PassThroughVolume


def _version_arg(value: Any, aid: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest(f"an expected version of {aid!r} must be an int >= 0, got {value!r:.40}",
                             artifact=aid, recover="pass the version read() or status() returned")
    return value
