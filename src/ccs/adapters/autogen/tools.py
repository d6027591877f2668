"""``read_artifact`` / ``write_artifact`` / ``update_artifact`` as AutoGen ``FunctionTool``s.

Every tool returns a JSON object for the model to read; none raises. A refusal is
``{"ok": false, "code": "stale_view", "artifact": ..., "current_version": ..., "recover": ...,
"hint": ...}``: nothing was written, and the model can re-read and re-derive, or use
``update_artifact``. A write is a compare-and-set against ``expected_version`` when given, else
against the version this agent's last ``read_artifact`` returned (see ``shared.py`` for the rule).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from autogen_core.tools import FunctionTool

from ccs.adapters.autogen.content import mime_of
from ccs.adapters.autogen.shared import PRIVATE_PREFIX, SharedArtifacts
from ccs.client.agent import Agent
from ccs.merge.packet import with_packet
from ccs.protocol.errors import CoherenceError, ConflictError, InvalidArgument
from ccs.tokens import as_text

HINT = ("Nothing was written. Call read_artifact to get the current version, apply your change "
        "to that text, then call write_artifact again; or use update_artifact to append or "
        "replace text without re-reading.")

Operation = Literal["append", "prepend", "replace", "merge"]


def ok(**fields: Any) -> str:
    return json.dumps({"ok": True, **fields}, ensure_ascii=False, default=str)


NEXT_CALL = ("write_artifact(artifact={artifact!r}, content=<the current content: your base with the "
             "changes above, plus your change>, expected_version={version})")


def refused(err: CoherenceError) -> str:
    payload = {"ok": False, **err.to_dict()}
    if isinstance(err, ConflictError):
        payload["hint"] = HINT
    return json.dumps(with_packet(payload, err, next_call=NEXT_CALL), ensure_ascii=False, default=str)


def _check_access(agent: Agent, artifact: str) -> None:
    if artifact.startswith(PRIVATE_PREFIX) and artifact != PRIVATE_PREFIX + agent.name:
        raise InvalidArgument(f"{artifact!r} is another agent's private memory",
                              parameter="artifact")


def _parse(agent: Agent, artifact: str, content: str) -> Any:
    """A JSON artifact (``.json`` id, or one that holds JSON now) takes JSON text; others text."""
    entry = agent._lookup(artifact)
    if artifact.lower().endswith(".json") or (entry is not None and entry.content.kind == "json"):
        try:
            return json.loads(content)
        except ValueError as exc:
            raise InvalidArgument(f"{artifact} holds JSON; content is not JSON: {exc}",
                                  parameter="content") from None
    return content


def _apply(artifact: str, old: Any, operation: str, text: str, find: str) -> Any:
    if operation in ("append", "prepend", "replace"):
        if old is not None and not isinstance(old, str):
            if operation == "append" and isinstance(old, list):
                return [*old, _json_arg(text)]
            raise InvalidArgument(f"{artifact} holds JSON: use merge (object) or append (list)",
                                  parameter="operation")
        old = old or ""
        if operation == "append":
            return old + text
        if operation == "prepend":
            return text + old
        if not find or find not in old:
            raise InvalidArgument(f"{find!r} is not in the current {artifact}; nothing was changed",
                                  parameter="find", artifact=artifact,
                                  recover="read_artifact and pick text that is in it")
        return old.replace(find, text, 1)
    if operation == "merge":
        patch = _json_arg(text)
        if not isinstance(patch, dict) or not isinstance(old or {}, dict):
            raise InvalidArgument("merge needs a JSON object, into an object artifact",
                                  parameter="text")
        return {**(old or {}), **patch}
    raise InvalidArgument(f"unknown operation {operation!r}", parameter="operation")


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidArgument(f"text is not JSON: {exc}", parameter="text") from None


def artifact_tools(shared: SharedArtifacts, agent: str) -> list[FunctionTool]:
    """The three tools, acting as agent ``agent`` of ``shared``."""

    def _read(a: Agent, artifact: str) -> str:
        _check_access(a, artifact)
        snap = a.snapshot(artifact, None)
        shared.read_by_tool(agent, artifact, snap.version)
        if not snap.exists:
            return ok(artifact=artifact, version=snap.version, exists=False, content=None)
        return ok(artifact=artifact, version=snap.version, exists=True,
                  mime_type=mime_of(artifact, snap.value), content=as_text(snap.value))

    async def read_artifact(artifact: str) -> str:
        """Read a shared artifact: its current content and version."""
        try:
            return await shared.call(agent, lambda a: _read(a, artifact))
        except CoherenceError as err:
            return refused(err)

    def _write(a: Agent, artifact: str, content: str, expected_version: int | None) -> str:
        _check_access(a, artifact)
        value = _parse(a, artifact, content)
        base = shared.base(agent, artifact) if expected_version is None else expected_version
        version = a.commit_cas(artifact, base, value)
        shared.read_by_tool(agent, artifact, version)  # it holds what it wrote
        return ok(artifact=artifact, version=version)

    async def write_artifact(artifact: str, content: str,
                             expected_version: int | None = None) -> str:
        """Replace a shared artifact's content. Refused (ok: false) if someone changed it since
        you last read it, or since expected_version when you give one."""
        try:
            return await shared.call(agent, lambda a: _write(a, artifact, content,
                                                             expected_version))
        except CoherenceError as err:
            return refused(err)

    def _update(a: Agent, artifact: str, operation: str, text: str, find: str) -> str:
        _check_access(a, artifact)
        version = a.write_cas(artifact, lambda old: _apply(artifact, old, operation, text, find),
                              retries=shared.retries)
        return ok(artifact=artifact, version=version, operation=operation)

    async def update_artifact(artifact: str, operation: Operation, text: str,
                              find: str = "") -> str:
        """Change a shared artifact in place, on its current version (safe without re-reading):
        append or prepend text, replace the first occurrence of `find` by `text`, or merge a
        JSON object (`text`) into a JSON artifact. Retried if someone writes meanwhile."""
        try:
            return await shared.call(agent, lambda a: _update(a, artifact, operation, text, find))
        except CoherenceError as err:
            return refused(err)

    return [
        FunctionTool(read_artifact, description=read_artifact.__doc__ or "", name="read_artifact"),
        FunctionTool(write_artifact, description=write_artifact.__doc__ or "",
                     name="write_artifact"),
        FunctionTool(update_artifact, description=update_artifact.__doc__ or "",
                     name="update_artifact"),
    ]
