"""The MCP client configuration in the README, pasted as is (root substituted), starts a server
the `mcp` client can use; the documented deny payload is what a refused write returns."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import anyio
import pytest

pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters, stdio_client

from conftest import readme_section

HEADING = "## For MCP clients: `stale-write-guard-fs`"


def json_blocks() -> list[dict]:
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", readme_section(HEADING), re.S)]


def server_params(root: Path, agent: str) -> StdioServerParameters:
    config = json_blocks()[0]["mcpServers"]["stale-write-guard-fs"]
    env = dict(os.environ, **config["env"])
    env["SWG_ROOT"] = str(root)  # the one value a user replaces
    env["SWG_AGENT"] = agent
    command = shutil.which(config["command"])
    if command is None:
        # The console script exists once the package is (re)installed; run its entry point.
        return StdioServerParameters(
            command=sys.executable,
            args=["-c", "import sys; from ccs.adapters.mcp_server import main; sys.exit(main())",
                  *config["args"]], env=env)
    return StdioServerParameters(command=command, args=config["args"], env=env)


async def call(s, tool, **arguments):
    result = await s.call_tool(tool, arguments)
    return result.model_dump(by_alias=True)["structuredContent"]  # mcp 1.x and 2.x names


def test_documented_config_and_deny_payload(tmp_path):
    documented = json_blocks()[1]

    async def scenario():
        async with stdio_client(server_params(tmp_path, "one")) as (r1, w1), \
                ClientSession(r1, w1) as one, \
                stdio_client(server_params(tmp_path, "two")) as (r2, w2), \
                ClientSession(r2, w2) as two:
            await one.initialize()
            await two.initialize()
            st = await call(one, "status")
            assert st["managed"] == ["CLAUDE.md", "memory.json", "plans/**"]
            assert (await call(one, "write", path="plans/plan.md", content="v1"))["ok"]
            assert (await call(two, "read", path="plans/plan.md"))["content"] == "v1"
            await call(one, "read", path="plans/plan.md")
            assert (await call(one, "write", path="plans/plan.md", content="v2"))["ok"]
            deny = await call(two, "write", path="plans/plan.md", content="stale")
            assert set(documented) <= set(deny)
            for key in ("ok", "code", "current_version", "recover", "retryable"):
                assert deny[key] == documented[key]
            assert (tmp_path / "plans/plan.md").read_text() == "v2"

    anyio.run(scenario, backend="asyncio")
