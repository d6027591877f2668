"""Typed errors shared by every layer.

Each error has a stable ``code`` (part of the public contract: MCP and HTTP clients switch on it),
the artifact it concerns, the current version and epoch where known, and a ``recover`` hint a
person or a model can act on. Errors serialize to JSON and can be rebuilt from it.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar


class CoherenceError(Exception):
    code: ClassVar[str] = "coherence_error"
    default_recover: ClassVar[str] = ""
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        artifact: str | None = None,
        current_version: int | None = None,
        current_epoch: int | None = None,
        recover: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.artifact = artifact
        self.current_version = current_version
        self.current_epoch = current_epoch
        self.recover = recover if recover is not None else self.default_recover
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "artifact": self.artifact,
            "current_version": self.current_version,
            "current_epoch": self.current_epoch,
            "recover": self.recover,
            "retryable": self.retryable,
        }
        if self.details:
            payload["details"] = self.details
        return payload

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @staticmethod
    def from_dict(payload: dict[str, Any]) -> CoherenceError:
        cls = ERRORS_BY_CODE.get(payload.get("code", ""), CoherenceError)
        return cls(
            payload.get("message", ""),
            artifact=payload.get("artifact"),
            current_version=payload.get("current_version"),
            current_epoch=payload.get("current_epoch"),
            recover=payload.get("recover"),
            **payload.get("details", {}),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, artifact={self.artifact!r}, " \
               f"current_version={self.current_version!r}, message={self.message!r})"


# --- conflicts: the write was refused because the world moved; nothing was applied -------------

class ConflictError(CoherenceError):
    code = "conflict"
    retryable = True
    # Set by the client on a refused write: what the write was based on and what it carried, so
    # ``conflict_packet`` can describe the refusal (``ccs.merge.packet.RefusalContext``).
    context: Any = None

    def conflict_packet(self, budget_tokens: int | None = None, *, next_call: str | None = None,
                        counter: Any = None) -> Any:
        """A compact description of this refusal a model can act on (``ccs.merge.ConflictPacket``):
        the version the write was based on, a diff of what changed since and who changed it, a
        diff of what the write carried, and the call to make next, sized to ``budget_tokens``."""
        from ccs.merge.packet import build_packet  # rendering (diffs, token counts) is not protocol

        return build_packet(self, budget_tokens, next_call=next_call, counter=counter)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled (to another process) without ``context``: it holds the local coordinator."""
        state = {k: v for k, v in self.__dict__.items() if k != "context"}
        return type(self), self.args, state


class StaleView(ConflictError):
    code = "stale_view"
    default_recover = "reacquire() the artifact, re-derive your change from the current version, write again"


class VersionConflict(ConflictError):
    code = "version_conflict"
    default_recover = "read the current version, recompute, and retry the compare-and-set"


class StaleReadGeneration(ConflictError):
    """The writer's read generation was fenced: crash recovery reclaimed a grant on the artifact
    since the writer's read (the ownership epoch moved), so its commit is refused even when the
    version did not move. The seed package's single code for this; here it is the base class of
    the two specific refusals, ``StaleEpoch`` (someone's grant was reclaimed since your read) and
    ``GrantReclaimed`` (your own grant was reclaimed), which keep their own codes. Match both with
    ``except StaleReadGeneration`` (or ``isinstance(err, StaleReadGeneration)``)."""
    code = "stale_read_generation"
    default_recover = (
        "crash recovery reclaimed a grant on this artifact since your read; reacquire() and re-derive")


class StaleEpoch(StaleReadGeneration):
    code = "stale_epoch"
    default_recover = "a grant on this artifact was reclaimed since your read; reacquire() and re-derive"


class GrantReclaimed(StaleReadGeneration):
    code = "grant_reclaimed"
    default_recover = (
        "crash recovery reclaimed your grant (missed heartbeats); reacquire() and re-derive your change"
    )


class NotOwner(ConflictError):
    code = "not_owner"
    default_recover = "you no longer hold the exclusive grant; reacquire() or use write()/write_cas()"


class TransactionConflict(ConflictError):
    code = "transaction_conflict"
    default_recover = "re-read every artifact listed in details.conflicts and run the transaction again"


class ViewExpired(ConflictError):
    code = "view_expired"
    default_recover = (
        "the record of what this caller read was dropped, so its write cannot be checked against "
        "it; read the item again, re-derive your change from it, and write again (or use an "
        "atomic update)"
    )


class MergeConflict(ConflictError):
    """A write refused as stale could not be merged: both sides changed the same region (lines
    of text, keys of a JSON object) differently since the write's base. Nothing was written.
    ``details``: ``base_version`` (what the write was derived from), ``regions`` (each conflicting
    region: where, and its base, theirs and yours)."""
    code = "merge_conflict"
    default_recover = ("both you and a peer changed the same region since your read: read the "
                       "current version, resolve the regions listed in details.regions, and write "
                       "again against the current version")


class MergeBaseUnavailable(ConflictError):
    """A write refused as stale cannot be merged because the content of the version it was
    derived from is no longer held (neither in the agent's cache nor among the versions the
    engine retains): no merge is guessed, nothing was written."""
    code = "merge_base_unavailable"
    default_recover = ("the version your write was derived from is no longer retained: read the "
                       "current version, re-derive your change, and write again (or raise "
                       "Limits.retain_versions)")


class RetriesExhausted(ConflictError):
    code = "cas_retries_exhausted"
    default_recover = "contention is high: back off, or raise retries=, or serialize the writers"


# --- bad input: refused before anything was touched ------------------------------------------

class InvalidRequest(CoherenceError):
    code = "invalid_request"
    default_recover = "fix the request; nothing was changed"


class InvalidIdentifier(InvalidRequest):
    code = "invalid_id"
    default_recover = ("use a non-empty string of valid Unicode (no control characters, no lone "
                       "surrogates): artifact ids up to 1024 bytes of UTF-8, agent ids up to 256")


class InvalidNamespace(InvalidRequest):
    code = "invalid_namespace"
    default_recover = "use a non-empty tuple of non-empty string labels without '.' or NUL"


class UnknownArtifact(InvalidRequest):
    code = "unknown_artifact"
    default_recover = "write the artifact first, or read with a default"


class VersionNotRetained(InvalidRequest):
    code = "version_not_retained"
    default_recover = "ask for a version in the retained range (ccs log shows what happened before)"


class PayloadTooLarge(InvalidRequest):
    code = "payload_too_large"
    default_recover = "split the content, or raise max_content_bytes in the coordinator limits"


class InvalidValue(InvalidRequest):
    code = "invalid_value"
    default_recover = "pass bytes, str, or a JSON-serializable object"


class InvalidArgument(InvalidRequest):
    code = "invalid_argument"
    default_recover = "pass a value of the documented type and range; nothing was changed"


class InvalidHookPayload(InvalidRequest):
    """A coding assistant's hook sent JSON that is not the documented payload."""
    code = "invalid_hook_payload"
    default_recover = ("the hook input must be the JSON object Claude Code sends on stdin (session_id, "
                       "hook_event_name, tool_name, tool_input); nothing was recorded")


class UnknownStrategy(InvalidRequest):
    code = "unknown_strategy"
    default_recover = "use one of: lazy, eager, lease, access_count, broadcast"


class InvalidSwitch(InvalidRequest):
    code = "invalid_switch"
    default_recover = ("set the kill switch to 1/true/yes (on) or 0/false/no (off), or unset it; "
                       "nothing was opened")


class InvalidStrategyParameter(InvalidRequest):
    code = "invalid_strategy_parameter"
    default_recover = "pass only the parameters the chosen strategy documents"


class UnknownEngine(InvalidRequest):
    code = "unknown_engine"
    default_recover = (
        "use memory://, sqlite:///path/state.db, redis://host:port/db (rediss:// for TLS) or postgresql://...")


class InvalidEngineOption(UnknownEngine):
    code = "invalid_engine_option"
    default_recover = ("fix the option in the engine URL (the README lists each engine's options); "
                       "nothing was opened or changed")


class PathOutsideWorkspace(InvalidRequest):
    code = "path_outside_workspace"
    default_recover = "use a relative path inside the workspace root (no '..', no symlink escape)"


class UnmanagedPath(InvalidRequest):
    code = "unmanaged_path"
    default_recover = "the path does not match the volume's managed globs"


# --- state and infrastructure -------------------------------------------------------------

class StateError(CoherenceError):
    code = "state_error"


class CorruptState(StateError):
    code = "corrupt_state"
    default_recover = "the state store is not an agent-coherence store or is damaged; nothing was written"


class SchemaTooNew(StateError):
    code = "schema_too_new"
    default_recover = "upgrade agent-coherence to a release that knows this schema"


class StoreNotFound(StateError):
    code = "store_not_found"
    default_recover = "check the engine URL's path; inspecting a store never creates one"


class ConfigurationMismatch(StateError):
    code = "configuration_mismatch"
    default_recover = "open the state with the same configuration it was created with"


class BackendUnavailable(StateError):
    code = "backend_unavailable"
    retryable = True
    default_recover = "check that the engine's server is reachable, then retry"


class OutcomeUnknown(BackendUnavailable):
    """The connection failed after a commit was sent: it may or may not have landed.

    ``details["commit_id"]`` is its idempotency id. Retrying with that same id is safe (the store
    answers with the original result if it landed); retrying under a new id may apply it twice,
    which is why this error is not ``retryable`` as such."""

    code = "outcome_unknown"
    retryable = False
    default_recover = ("the commit may or may not have landed: read the artifact before retrying "
                       "(Coordinator.artifact(id).committed(commit_id) is the version it landed at), "
                       "or retry with the same commit id")


class StorageFull(BackendUnavailable):
    code = "storage_full"
    retryable = False
    default_recover = "the engine is out of memory or disk: free space (or raise maxmemory), then retry"


class EngineError(StateError):
    """The engine refused an operation for a reason that is neither bad input nor an outage
    (a permission, a server-side limit, a driver error): ``details`` carry its own words."""

    code = "engine_error"
    default_recover = "see the message: the engine refused the operation; fix the cause, then retry"


class ForeignEdit(ConflictError):
    code = "foreign_edit"
    default_recover = "the file was changed outside the volume; read() it to adopt the edit, then write"


class NotAFile(PathOutsideWorkspace):
    """The path cannot hold a file: a directory, a special file, a symlink loop, or a place below
    a regular file (``a.txt/b``). A ``PathOutsideWorkspace`` so that callers catching that keep
    working; its own code says which."""
    code = "not_a_file"
    default_recover = (
        "use a path that names a regular file (or none yet): not a directory, a device, a symlink "
        "loop, or a path below an existing file; nothing was changed")


class FileSystemError(StateError):
    code = "filesystem_error"
    default_recover = (
        "the operating system refused a file operation (details.errno); fix the cause (permissions, "
        "disk space, read-only mount), then read() or status() the file before writing again")


class InternalError(CoherenceError):
    code = "internal_error"
    default_recover = (
        "an unexpected failure; read() or status() the file to see what is current before writing again")


# --- the HTTP server (ccs serve) ----------------------------------------------------------------

class UnknownEndpoint(InvalidRequest):
    code = "unknown_endpoint"
    default_recover = "use one of the routes /openapi.json describes (method and path); nothing was changed"


class Unauthorized(CoherenceError):
    code = "unauthorized"
    default_recover = ("send the server's token as 'Authorization: Bearer <token>' (it is in the "
                       "server's token file); nothing was changed")


class Forbidden(CoherenceError):
    code = "forbidden"
    default_recover = ("act only as the agent names your token is bound to (the server's --bind-agents "
                       "file); nothing was changed")


class ReadOnly(Forbidden):
    code = "read_only"
    default_recover = ("this server was started with --read-only: reads, status, log and events work; "
                       "write through a server started without it; nothing was changed")


class RequestTimeout(BackendUnavailable):
    """A request that did not finish within the server's per-request timeout. Only for requests
    that change nothing: a write that times out is ``OutcomeUnknown``."""
    code = "request_timeout"
    default_recover = "the engine is slow or blocked: retry later, or raise ccs serve --request-timeout"


def _all_subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


ERRORS_BY_CODE: dict[str, type[CoherenceError]] = {
    c.code: c for c in [CoherenceError, *_all_subclasses(CoherenceError)]
}
