"""The stale-write-guard-fs MCP server, driven by the `mcp` package's real client over stdio
(each server is a subprocess, one agent per server)."""

from __future__ import annotations

import contextlib
import json
import os
import sys

import anyio
import pytest

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

SERVER = [sys.executable, "-m", "ccs.adapters.mcp_server"]
TOOLS = {"read", "write", "write_cas", "reacquire", "publish", "status"}


def params(root, agent, command=None, args=None, env=None):
    full_env = dict(os.environ)
    full_env.update(env or {"SWG_ROOT": str(root), "SWG_AGENT": agent})
    cmd = command or SERVER
    return StdioServerParameters(command=cmd[0], args=[*cmd[1:], *(args or [])], env=full_env)


@contextlib.asynccontextmanager
async def session(p):
    async with stdio_client(p) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


async def call(s, tool, **arguments):
    result = (await s.call_tool(tool, arguments)).model_dump(by_alias=True)  # mcp 1.x and 2.x names
    payload = result["structuredContent"]
    assert payload == json.loads(result["content"][0]["text"])
    assert result["isError"] == (not payload["ok"])
    return payload


def run(fn):
    anyio.run(fn, backend="asyncio")


def test_two_sessions_stale_write_denied_and_recovered(tmp_path):
    async def scenario():
        async with session(params(tmp_path, "alice")) as a, session(params(tmp_path, "bob")) as b:
            assert {t.name for t in (await a.list_tools()).tools} >= TOOLS
            missing = await call(a, "read", path="plan.md")
            assert missing["ok"] and missing["exists"] is False and missing["version"] == 0
            assert (await call(a, "write", path="plan.md", content="# plan\n"))["version"] == 1
            got = await call(b, "read", path="plan.md")
            assert (got["content"], got["version"]) == ("# plan\n", 1)
            await call(a, "read", path="plan.md")
            assert (await call(b, "write", path="plan.md", content="# plan\n- bob\n"))["version"] == 2

            deny = await call(a, "write", path="plan.md", content="# plan\n- alice\n")
            assert deny["ok"] is False and deny["code"] == "stale_view"
            assert deny["current_version"] == 2 and "reacquire" in deny["recover"]
            assert deny["path"] == "plan.md" and deny["retryable"] is True
            assert (tmp_path / "plan.md").read_text() == "# plan\n- bob\n"  # nothing written

            cur = await call(a, "reacquire", path="plan.md")
            assert (cur["content"], cur["version"]) == ("# plan\n- bob\n", 2)
            done = await call(a, "write", path="plan.md", content=cur["content"] + "- alice\n")
            assert done["version"] == 3
            assert (tmp_path / "plan.md").read_text() == "# plan\n- bob\n- alice\n"
    run(scenario)


def test_cas_publish_status_foreign_edit_and_escapes(tmp_path):
    async def scenario():
        async with session(params(tmp_path, "carol")) as c:
            assert (await call(c, "write_cas", path="n.txt", expected_version=0, content="1"))["version"] == 1
            deny = await call(c, "write_cas", path="n.txt", expected_version=0, content="x")
            assert (deny["code"], deny["current_version"]) == ("version_conflict", 1) and deny["recover"]

            pub = await call(c, "publish", files={"a.md": "A", "b/c.md": "C"})
            assert pub["versions"] == {"a.md": 1, "b/c.md": 1}
            deny = await call(c, "publish", files={"a.md": "A2", "d.md": "D"},
                              expected_versions={"a.md": 0})
            assert deny["code"] == "transaction_conflict" and deny["details"]["conflicts"]
            assert not (tmp_path / "d.md").exists() and (tmp_path / "a.md").read_text() == "A"

            (tmp_path / "a.md").write_text("edited in an editor")
            st = await call(c, "status")
            assert {f["path"]: f["disk"] for f in st["files"]}["a.md"] == "foreign"
            deny = await call(c, "write", path="a.md", content="A3")
            assert deny["code"] == "foreign_edit" and deny["current_version"] == 1 and deny["recover"]
            assert (tmp_path / "a.md").read_text() == "edited in an editor"
            adopted = await call(c, "read", path="a.md")
            assert (adopted["content"], adopted["version"]) == ("edited in an editor", 2)

            for bad in ("../x.md", "/etc/passwd", ".ccs/state.db"):
                deny = await call(c, "write", path=bad, content="x")
                assert deny["code"] == "path_outside_workspace" and deny["recover"]
            assert not (tmp_path.parent / "x.md").exists()

            raw = bytes(range(256))
            import base64
            enc = base64.b64encode(raw).decode()
            assert (await call(c, "write", path="bin.dat", content=enc, encoding="base64"))["ok"]
            back = await call(c, "read", path="bin.dat")
            assert back["encoding"] == "base64" and base64.b64decode(back["content"]) == raw
    run(scenario)


def test_managed_globs_from_environment(tmp_path):
    async def scenario():
        env = {"SWG_ROOT": str(tmp_path), "SWG_AGENT": "dan", "SWG_MANAGED": "plans/**"}
        async with session(params(tmp_path, "dan", env=env)) as d:
            assert (await call(d, "write", path="plans/p.md", content="p"))["ok"]
            deny = await call(d, "write", path="notes.md", content="n")
            assert deny["code"] == "unmanaged_path"
        # a server without SWG_MANAGED takes the globs the root's state recorded
        async with session(params(tmp_path, "erin")) as e:
            assert (await call(e, "status"))["managed"] == ["plans/**"]
    run(scenario)


def test_ccs_mcp_subcommand_serves_the_same_tools(tmp_path):
    async def scenario():
        cmd = [sys.executable, "-m", "ccs.cli.main", "mcp"]
        async with session(params(tmp_path, "carol", command=cmd)) as s:
            assert {t.name for t in (await s.list_tools()).tools} >= TOOLS
            assert (await call(s, "write", path="notes.md", content="hi\n"))["version"] == 1

    run(scenario)
    assert (tmp_path / "notes.md").read_text() == "hi\n"
