"""What a coordinator reads without taking part in the protocol: content by hash, records, the
audit log, retained versions. Committed snapshots read straight from the engine."""

from __future__ import annotations

from ccs.backends import Backend, artifact_key
from ccs.protocol.audit import AuditEntry
from ccs.protocol.errors import CorruptState, InvalidArgument, InvalidIdentifier
from ccs.protocol.ids import RESERVED_PREFIX, check_artifact_id
from ccs.protocol.records import ArtifactRecord, Content


class Inspection:
    backend: Backend

    def fetch(self, content: Content, artifact_id: str = "") -> bytes | None:
        if content.digest is None:
            return None
        data = self.backend.get_blob(content.digest)
        if data is None:
            raise self._missing(content, artifact_id)
        return data

    @staticmethod
    def _missing(content: Content, artifact_id: str) -> CorruptState:
        return CorruptState(f"content {(content.digest or '')[:12]} of {artifact_id!r} is missing",
                            artifact=artifact_id)

    def artifact(self, artifact_id: str) -> ArtifactRecord | None:
        rec = self.backend.get(artifact_key(check_artifact_id(artifact_id)))
        return rec if isinstance(rec, ArtifactRecord) else None

    def artifacts(self, prefix: str = "") -> list[ArtifactRecord]:
        """Records of every artifact whose id starts with ``prefix`` (including deleted ones and
        ones only read so far, version 0): callers filter on ``exists``. The library's own
        records (``ccs::``, the effect outbox) only when ``prefix`` asks for them."""
        try:
            prefix.encode("utf-8")
        except (AttributeError, UnicodeEncodeError):
            raise InvalidIdentifier(f"prefix must be a string of valid Unicode, got {prefix!r}"
                                    ) from None
        hide = not prefix.startswith(RESERVED_PREFIX)
        return [rec for key, rec in self.backend.records("a/" + prefix)
                if isinstance(rec, ArtifactRecord)
                and not (hide and key.startswith(RESERVED_PREFIX, 2))]

    def audit(self, artifact: str | None = None, since: float | None = None,
              limit: int | None = None) -> list[AuditEntry]:
        """The audit log the engine keeps: every commit, delete, refusal and reclaim (of one
        artifact, or of all), at or after ``since`` (epoch seconds), the latest ``limit``
        entries, in the order they happened. Each artifact keeps the entries of its latest
        ``Limits.audit_retain`` versions."""
        if artifact is not None:
            check_artifact_id(artifact)
        if since is not None and (isinstance(since, bool) or not isinstance(since, int | float)):
            raise InvalidArgument(f"since must be a number of epoch seconds, got {since!r}",
                                  parameter="since")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 0):
            raise InvalidArgument(f"limit must be a whole number >= 0, got {limit!r}",
                                  parameter="limit")
        return self.backend.audit(artifact, since, limit)

    def content_at(self, artifact_id: str, version: int | None = None) -> bytes | None:
        """Content of the current version, or of a retained older one."""
        rec = self.artifact(artifact_id)
        if rec is None:
            return None
        if version is None or version == rec.version:
            return self.fetch(rec.content, artifact_id)
        for v, digest in rec.history:
            if v == version:
                return self.backend.get_blob(digest)
        return None
