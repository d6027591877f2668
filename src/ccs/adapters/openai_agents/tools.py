"""Function tools over shared artifacts. The caller is ``ToolContext.agent`` (or a name given
explicitly); a refused write is a tool *result* the model can act on, never an exception."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agents import FunctionTool, function_tool
from agents.tool_context import ToolContext

if TYPE_CHECKING:
    from ccs.adapters.openai_agents.shared import SharedArtifacts


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, default=str)


def artifact_tools(shared: SharedArtifacts, *, agent: str | None = None) -> list[FunctionTool]:
    """``[read_artifact, write_artifact, update_artifact]`` bound to ``shared``. Each returns a
    JSON object with ``ok``; on a refusal also ``code``, ``artifact``, ``current_version`` and
    ``recover``. ``agent`` fixes the caller's identity instead of ``ToolContext.agent``."""

    @function_tool
    async def read_artifact(ctx: ToolContext[Any], artifact_id: str) -> str:
        """Read a shared artifact. Returns JSON {ok, artifact, version, exists, value}. Your later
        write_artifact of this artifact is checked against the version returned here.

        Args:
            artifact_id: The artifact's id, e.g. "plan.md".
        """
        name = shared.agent_name(ctx, override=agent)
        return _json(await shared.aread(name, artifact_id))

    @function_tool
    async def write_artifact(ctx: ToolContext[Any], artifact_id: str, content: str) -> str:
        """Replace a shared artifact's content with `content`, derived from the version you read.
        Refused (ok: false, code "stale_view") if someone changed it since your read_artifact; then
        read it again, re-derive your change, and write again. Returns JSON {ok, artifact, version}.

        Args:
            artifact_id: The artifact's id.
            content: The complete new content.
        """
        name = shared.agent_name(ctx, override=agent)
        return _json(await shared.awrite(name, artifact_id, content))

    @function_tool
    async def update_artifact(ctx: ToolContext[Any], artifact_id: str, append: str | None = None,
                              find: str | None = None, replace: str | None = None) -> str:
        """Edit a shared artifact atomically on its current version, whoever changed it since you
        read it: replace `find` (which must occur exactly once) by `replace`, then add `append` at
        the end. Retried on the newer version if a peer commits at the same moment. Returns JSON
        {ok, artifact, version, value} with the full content that landed.

        Args:
            artifact_id: The artifact's id.
            append: Text to add at the end.
            find: Text to replace; must occur exactly once in the current content.
            replace: The replacement for `find`.
        """
        name = shared.agent_name(ctx, override=agent)
        return _json(await shared.aedit(name, artifact_id, append=append, find=find,
                                        replace=replace))

    return [read_artifact, write_artifact, update_artifact]
