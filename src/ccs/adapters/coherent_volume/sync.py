"""Making disk, record and an agent's view of one file agree, under that file's ``PathLock``.

Disk content the volume put there (it matches the mark, or the record, or with no mark a version
in the record's history) is brought up to the record: a materialization cut short by a crash is
finished. Anything else is a foreign edit: adopted as a new version on read, refused on write
(unless ``on_stale_write="allow"``). Bytes on disk that the state has no record of at all are
foreign too: a state that was lost or emptied proves nothing about them, and its marks are of
another state (``materialize.py``), so they are adopted on read and never overwritten unread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ccs.adapters.coherent_volume import materialize as mat
from ccs.adapters.coherent_volume.confined import fs_error
from ccs.client.agent import Versioned
from ccs.protocol.errors import CoherenceError, ConflictError, ForeignEdit, RetriesExhausted

if TYPE_CHECKING:
    from ccs.adapters.coherent_volume.confined import Root
    from ccs.client.agent import Agent
    from ccs.coordinator import Coordinator

ADOPT_ATTEMPTS = 50


class DiskSync:
    """The disk side of ``CoherentVolume`` (which provides these attributes)."""

    agent: Agent
    coordinator: Coordinator
    fs: Root
    durable: bool
    on_stale_write: str
    on_stale_read: str

    def _lock(self, aid: str) -> mat.PathLock:
        raise NotImplementedError

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
        if version == 0:
            what = (f"{aid!r} holds bytes on disk (sha256 {dd[:12]}) that the volume's state has no "
                    "record of (made outside the volume, or the state was lost)")
        else:
            what = (f"{aid!r} was changed on disk outside the volume (sha256 {dd[:12]}, the volume "
                    f"last wrote {mark.digest[:12] if mark else 'nothing'})")
        return ForeignEdit(
            what, artifact=aid,
            current_version=version, disk_sha256=dd, volume_sha256=None if mark is None else mark.digest,
            recover=recover)

    def _guard(self, lk: mat.PathLock, aid: str) -> None:
        """Refuse a commit over a foreign edit (unless ``on_stale_write='allow'``), and over a
        path that cannot be read safely (a symlink swapped in, a directory: typed errors)."""
        disk = self.fs.read(aid)
        if self.on_stale_write == "allow":
            return
        dd = mat.digest(disk)
        if not self._disk_is_ours(lk, aid, dd):
            rec = self.coordinator.artifact(aid)
            raise self._foreign(aid, dd, lk, 0 if rec is None else rec.version,
                                "read() the file to adopt the bytes on disk as a new version, "
                                "re-derive your change from them, and write again")

    def _materialize(self, lk: mat.PathLock, aid: str,
                     known: tuple[int, bytes | None] | None = None, *,
                     just_committed: bool = False, defer_dir_sync: bool = False) -> int:
        """Put the *current* record on disk (never an older one) and advance the mark.

        ``just_committed``: ``known`` is the commit this caller made under ``lk`` a moment ago, so
        the record is not read back. Volumes commit a file only under its lock, so the record is
        that commit; only a writer outside any volume could have moved it since, and then the
        disk holds ``known`` with its mark, i.e. a repair still to do, which the next access
        does (as after a crash between commit and materialization)."""
        if just_committed and known is not None:
            version, data = int(known[0]), known[1]
            rd = mat.digest(data)
        else:
            rec = self.coordinator.artifact(aid)
            if rec is None or rec.version == 0:
                return 0
            version, rd = rec.version, rec.content.digest or mat.ABSENT
            if known is not None and known[0] == rec.version:
                data = known[1]
            else:
                data = self.coordinator.fetch(rec.content, aid)
        dir_syncs, hold = (lk.dir_syncs, lk.held) if defer_dir_sync else (None, None)
        if data is None:
            self.fs.remove(aid, durable=self.durable, dir_syncs=dir_syncs, hold=hold)
        else:
            self.fs.write_atomic(aid, data, durable=self.durable, dir_syncs=dir_syncs, hold=hold)
        lk.landed = version
        lk.set_mark(version, rd)
        return version

    def _land(self, lk: mat.PathLock, aid: str, version: int, data: bytes | None) -> None:
        """Materialize a commit just made. If the file cannot be written the commit stands (the
        next access repairs the file from the state); the error says so."""
        try:
            self._materialize(lk, aid, (version, data), just_committed=True, defer_dir_sync=True)
        except (CoherenceError, OSError) as exc:
            err = exc if isinstance(exc, CoherenceError) else fs_error(aid, exc, "write")
            err.details["committed_version"] = version
            err.recover = (f"the change WAS committed as version {version}, only the file could not "
                           f"be written; do not write it again. {err.recover}")
            if err is exc:
                raise
            raise err from exc

    def _reconcile(self, lk: mat.PathLock, aid: str, *, acquire: bool, adopt: bool) -> Versioned:
        """Under the lock: make disk, record and this agent's view agree, and return the view."""
        self.fs.clean_temps(aid)
        for _ in range(ADOPT_ATTEMPTS):
            if acquire:
                self.agent.acquire(aid, None)
                v = self.agent.snapshot(aid, None)
            else:
                v = self.agent.read_with_version(aid, None)
            disk = self.fs.read(aid)
            dd, rd = mat.digest(disk), mat.digest(v.value)
            if dd == rd:
                mark = lk.mark()
                if mark is None or mark.version != v.version or mark.digest != rd:
                    lk.set_mark(v.version, rd)
                return v
            if self._disk_is_ours(lk, aid, dd):
                self._materialize(lk, aid, (v.version, v.value))
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
            return self._reconcile(lk, aid, acquire=acquire,
                                   adopt=self.on_stale_read == "adopt" if adopt is None else adopt)

