"""What a tool returns to the model: JSON-able payloads, a refusal instead of an exception."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ccs.merge.packet import with_packet
from ccs.protocol.errors import CoherenceError, ConflictError, UnknownArtifact
from ccs.tokens import as_text


def refusal(err: CoherenceError, artifact_id: str) -> dict[str, Any]:
    """A refused operation as the model sees it: ``ok: false``, the error's stable ``code``, the
    artifact, its current version, and what to do next (phrased in terms of the tools)."""
    artifact = err.artifact or artifact_id
    if isinstance(err, ConflictError):
        now = "" if err.current_version is None else f" (now v{err.current_version})"
        recover = (f"nothing was written: {artifact!r} changed since you read it{now}. Call "
                   f"read_artifact({artifact!r}), re-derive your change from what it returns and "
                   f"write again, or use update_artifact for an append or a find/replace edit.")
    elif isinstance(err, UnknownArtifact):
        recover = "the artifact does not exist: write_artifact creates it"
    else:
        recover = err.recover
    return with_packet({"ok": False, "code": err.code, "artifact": artifact,
                        "current_version": err.current_version, "message": err.message,
                        "recover": recover}, err, next_call=NEXT_CALL)


NEXT_CALL = ("write_artifact({artifact!r}, content=<the current content: your base with the changes "
             "above, plus your change>) after read_artifact({artifact!r}) returns version {version}; "
             "or update_artifact for an append or a find/replace edit")


class NotApplicable(Exception):
    """A text edit that does not apply to the current content (nothing was written)."""

    code = "edit_not_applicable"

    def __init__(self, message: str, version: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.version = version

    def payload(self, artifact_id: str) -> dict[str, Any]:
        return {"ok": False, "code": self.code, "artifact": artifact_id,
                "current_version": self.version, "message": self.message,
                "recover": f"read_artifact({artifact_id!r}) and choose a `find` text that occurs "
                           f"exactly once, or write the whole content with write_artifact"}


def text_edit(*, append: str | None = None, find: str | None = None,
              replace: str | None = None) -> Callable[[Any], str]:
    """The edit as a function of the current text: replace ``find`` (exactly one occurrence) by
    ``replace``, then append ``append``. An absent artifact is the empty text."""
    if append is None and find is None:
        raise NotApplicable("give `append`, or `find` and `replace`")

    def apply(old: Any) -> str:
        text = "" if old is None else as_text(old)
        if find is not None:
            count = text.count(find)
            if count != 1:
                raise NotApplicable(f"`find` occurs {count} times in the current text; it must "
                                    f"occur exactly once")
            text = text.replace(find, replace or "", 1)
        return text + (append or "")

    return apply
