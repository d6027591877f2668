"""The MCP server with ``CCS_DISABLE=1``, driven by the `mcp` package's real client over stdio
(two server processes, one agent each): the tools still work on the files, every result says
coherence is disabled, the stale write lands (the lost update is back), and the WARNING reaches
the server's stderr with no logging configured."""

from __future__ import annotations

import contextlib

import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, stdio_client
from test_mcp_server import call, params, run

from ccs.adapters.mcp_server import DISABLED_NOTE


@contextlib.asynccontextmanager
async def session(p, errlog):
    async with stdio_client(p, errlog=errlog) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


def test_mcp_tools_pass_through_and_say_so(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "plan.md").write_text("# plan\n")
    env = {"SWG_ROOT": str(root), "SWG_MANAGED": "**", "CCS_DISABLE": "1"}
    stderr = tmp_path / "stderr.txt"

    async def scenario():
        with stderr.open("w") as errlog:
            async with session(params(root, "", env={**env, "SWG_AGENT": "alice"}), errlog) as a, \
                    session(params(root, "", env={**env, "SWG_AGENT": "bob"}), errlog) as b:
                got = await call(a, "read", path="plan.md")
                assert got["ok"] and got["content"] == "# plan\n" and got["version"] is None
                assert got["coherence"] == DISABLED_NOTE
                await call(b, "read", path="plan.md")
                assert (await call(b, "write", path="plan.md", content="# plan\n- bob\n"))["ok"]
                landed = await call(a, "write", path="plan.md", content="# plan\n- alice\n")
                assert landed["ok"] and landed["coherence"] == DISABLED_NOTE  # refused when on
                cas = await call(a, "write_cas", path="plan.md", expected_version=7, content="x\n")
                assert cas["ok"]  # no versions to compare while disabled
                outside = await call(a, "write", path="../escape.md", content="x")
                assert not outside["ok"] and outside["code"] == "path_outside_workspace"
                assert outside["coherence"] == DISABLED_NOTE
                assert (await call(a, "status"))["coherence_disabled"] is True

    run(scenario)
    assert (root / "plan.md").read_text() == "x\n" and not (tmp_path / "escape.md").exists()
    assert not (root / ".ccs").exists()
    assert stderr.read_text().count("CCS_DISABLE is set: CoherentVolume is a pass-through") == 2
