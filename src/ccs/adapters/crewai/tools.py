"""CrewAI tools over shared artifacts, bound to one agent's role.

``read_artifact`` serves the agent's cached copy and records the version it read,
``write_artifact`` commits only if the artifact is still at that version, ``update_artifact``
applies a small operation (append, increment, set, merge) as a checked read-modify-write retried
a bounded number of times. A refused write is returned as ``{"ok": false, "code", "artifact",
"current_version", "recover"}`` for the model to act on; nothing is raised into CrewAI.

The version read is kept per tool set (one ``artifact_tools`` call): two CrewAI agents of the same
role, each with its own set, do not share a view, so the second one's write from the version both
read is refused. Not per thread: CrewAI may run one agent's tool calls on pool threads. One agent
running two tasks at once shares its set's view; give such tasks their own set.
"""

from __future__ import annotations

from typing import Any, Literal

from crewai.tools import BaseTool
from pydantic import BaseModel, Field, PrivateAttr

from ccs.adapters.crewai import payloads
from ccs.adapters.unchecked import core_for
from ccs.client import Agent, CoherenceAdapterCore
from ccs.protocol.errors import CoherenceError, InvalidArgument, StaleView, VersionConflict


class ReadArgs(BaseModel):
    artifact_id: str = Field(description="id of the shared artifact, e.g. 'plan.md'")


class WriteArgs(BaseModel):
    artifact_id: str = Field(description="id of the shared artifact")
    content: Any = Field(description="the complete new content (text or JSON), derived from "
                                     "what read_artifact returned")


class UpdateArgs(BaseModel):
    artifact_id: str = Field(description="id of the shared artifact")
    operation: Literal["append", "increment", "set", "merge"] = Field(
        description="append: add text (or a list item); increment: add a number (at key, if "
                    "given); set: replace the value (at key, if given); merge: update a JSON "
                    "object with the keys of value")
    value: Any = Field(default=None, description="operand (increment defaults to 1)")
    key: str | None = Field(default=None, description="key inside a JSON object, if any")


class Views:
    """The version one tool set last read (or wrote) of each artifact."""

    def __init__(self) -> None:
        self._versions: dict[str, int] = {}

    def saw(self, artifact_id: str, version: int) -> None:
        self._versions[artifact_id] = version

    def base(self, artifact_id: str) -> int:
        """0 (expect it absent) when this set never read it."""
        return self._versions.get(artifact_id, 0)


class _ArtifactTool(BaseTool):
    _core: CoherenceAdapterCore = PrivateAttr()
    _role: str = PrivateAttr()
    _views: Views = PrivateAttr()

    def bind(self, core: CoherenceAdapterCore, role: str, views: Views) -> _ArtifactTool:
        self._core, self._role, self._views = core, role, views
        return self

    @property
    def agent(self) -> Agent:
        return self._core.agent(self._role)


class ReadArtifactTool(_ArtifactTool):
    name: str = "read_artifact"
    description: str = "Read a shared artifact: returns its content and version."
    args_schema: type[BaseModel] = ReadArgs

    def _run(self, artifact_id: str) -> str:
        try:
            snap = self.agent.snapshot(artifact_id)
        except CoherenceError as err:
            return payloads.refused(err, artifact_id)
        self._views.saw(artifact_id, snap.version)
        return payloads.ok(artifact=artifact_id, version=snap.version, content=snap.value)


class WriteArtifactTool(_ArtifactTool):
    name: str = "write_artifact"
    description: str = ("Replace a shared artifact's content. Lands only if nobody changed it "
                        "since your read_artifact; otherwise returns ok=false with what to do.")
    args_schema: type[BaseModel] = WriteArgs

    def _run(self, artifact_id: str, content: Any) -> str:
        base = self._views.base(artifact_id)
        try:
            try:
                version = self.agent.commit_cas(artifact_id, base, content)
            except VersionConflict as err:
                stale = StaleView(f"{self._role} derived its write from version {base} of "
                                  f"{artifact_id!r}, now at version {err.current_version}",
                                  artifact=artifact_id, current_version=err.current_version,
                                  current_epoch=err.current_epoch, base_version=base)
                stale.context = err.context
                raise stale from err
        except CoherenceError as err:
            return payloads.refused(err, artifact_id)
        self._views.saw(artifact_id, version)
        return payloads.ok(artifact=artifact_id, version=version)


class UpdateArtifactTool(_ArtifactTool):
    name: str = "update_artifact"
    description: str = ("Change a shared artifact in place (append / increment / set / merge), "
                        "atomically against its current version, retried if others write first.")
    args_schema: type[BaseModel] = UpdateArgs
    retries: int = 8

    def _run(self, artifact_id: str, operation: str, value: Any = None,
             key: str | None = None) -> str:
        try:
            version = self.agent.write_cas(artifact_id, lambda old: apply(operation, old, value, key),
                                           retries=self.retries)
            content = self.agent.read(artifact_id)
        except CoherenceError as err:
            return payloads.refused(err, artifact_id)
        self._views.saw(artifact_id, version)
        return payloads.ok(artifact=artifact_id, version=version, content=content)


def apply(operation: str, old: Any, value: Any, key: str | None) -> Any:
    """The new value of one ``update_artifact`` operation (pure; re-run on every retry)."""
    if key is not None:
        base = {} if old is None else old
        if not isinstance(base, dict):
            raise InvalidArgument(f"key {key!r} given but the artifact is not a JSON object",
                                  parameter="key")
        return {**base, key: apply(operation, base.get(key), value, None)}
    if operation == "append":
        if isinstance(old, list):
            return [*old, value]
        return ("" if old is None else str(old)) + str(value)
    if operation == "increment":
        step = 1 if value is None else value
        if not isinstance(step, int | float) or (old is not None and not isinstance(old, int | float)):
            raise InvalidArgument("increment needs numbers", parameter="value")
        return (old or 0) + step
    if operation == "merge":
        if not isinstance(value, dict) or (old is not None and not isinstance(old, dict)):
            raise InvalidArgument("merge needs JSON objects", parameter="value")
        return {**(old or {}), **value}
    if operation == "set":
        return value
    raise InvalidArgument(f"unknown operation {operation!r}", parameter="operation")


def artifact_tools(core: CoherenceAdapterCore, role: str, *, retries: int = 8) -> list[BaseTool]:
    """``[read_artifact, write_artifact, update_artifact]`` acting as agent ``role`` of ``core``:
    ``Agent(role="writer", tools=artifact_tools(core, "writer"), ...)``."""
    views = Views()
    core = core_for("CrewAI artifact_tools", core)  # CCS_DISABLE: pass-through
    return [ReadArtifactTool().bind(core, role, views), WriteArtifactTool().bind(core, role, views),
            UpdateArtifactTool(retries=retries).bind(core, role, views)]
