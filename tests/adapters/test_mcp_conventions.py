"""The MCP server as a client sees it: titles and behaviour hints on every tool, dedented
descriptions, this package's version in serverInfo, messages in the session's terms, and a bad
configuration said in one line. Written against both mcp 1.x and 2.x field names
(``model_dump(by_alias=True)`` gives the wire names)."""

from __future__ import annotations

import base64
import contextlib
import inspect
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import anyio
import pytest

pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters, stdio_client

from ccs._meta import package_version

SERVER = [sys.executable, "-m", "ccs.adapters.mcp_server"]


def params(root, agent):
    env = dict(os.environ, SWG_ROOT=str(root), SWG_AGENT=agent)
    return StdioServerParameters(command=SERVER[0], args=SERVER[1:], env=env)


@contextlib.asynccontextmanager
async def session(p):
    async with stdio_client(p) as (read, write), ClientSession(read, write) as s:
        init = await s.initialize()
        s.init_result = init.model_dump(by_alias=True)
        yield s


async def call(s, tool, **arguments):
    result = (await s.call_tool(tool, arguments)).model_dump(by_alias=True)
    payload = json.loads(result["content"][0]["text"])
    assert result["isError"] == (not payload["ok"])
    return payload


def run(fn):
    anyio.run(fn, backend="asyncio")


def test_tools_have_titles_hints_and_dedented_descriptions_and_the_version(tmp_path):
    async def scenario():
        async with session(params(tmp_path, "ann")) as s:
            assert s.init_result["serverInfo"]["name"] == "stale-write-guard-fs"
            assert s.init_result["serverInfo"]["version"] == package_version()
            tools = {t["name"]: t for t in
                     ((await s.list_tools()).model_dump(by_alias=True))["tools"]}
            return tools
    tools = anyio.run(scenario, backend="asyncio")
    assert set(tools) == {"read", "write", "write_cas", "reacquire", "publish", "status"}
    for name, t in tools.items():
        hints = t["annotations"]
        assert t["title"] and hints["title"] == t["title"], name
        assert hints["openWorldHint"] is False, name
        desc = t["description"]
        assert desc == inspect.cleandoc(desc) and "\n    " not in desc, name
    for name in ("read", "status"):
        assert tools[name]["annotations"]["readOnlyHint"] is True
        assert tools[name]["annotations"]["idempotentHint"] is True
    for name in ("write", "write_cas", "publish"):
        assert tools[name]["annotations"]["readOnlyHint"] is False
        assert tools[name]["annotations"]["destructiveHint"] is True
    assert tools["write_cas"]["annotations"]["idempotentHint"] is True   # a repeat is refused
    assert tools["write"]["annotations"]["idempotentHint"] is False      # a repeat is a new version
    assert tools["reacquire"]["annotations"]["destructiveHint"] is False


def test_a_write_never_read_in_this_session_says_so(tmp_path):
    async def scenario():
        async with session(params(tmp_path, "first")) as a, session(params(tmp_path, "second")) as b:
            assert (await call(a, "write", path="plan.md", content="A"))["ok"]
            deny = await call(b, "write", path="plan.md", content="B")
            assert deny["code"] == "stale_view" and deny["current_version"] == 1
            assert "expected the file to be absent (never read in this session)" in deny["message"]
            assert "version 0" not in deny["message"] and "read(path)" in deny["recover"]
            missing = await call(b, "read", path="new.md")       # read while absent ...
            assert missing["exists"] is False
            assert (await call(a, "write", path="new.md", content="A"))["ok"]   # ... then created
            deny = await call(b, "write", path="new.md", content="B")
            assert "it did not exist when this session read it" in deny["message"]
            assert (tmp_path / "plan.md").read_text() == "A" and (tmp_path / "new.md").read_text() == "A"
    run(scenario)


def test_invalid_base64_names_the_file_and_gives_no_python_advice(tmp_path):
    async def scenario():
        async with session(params(tmp_path, "b64")) as s:
            for bad in ("not base64!", "abc"):
                deny = await call(s, "write", path="bin.dat", content=bad, encoding="base64")
                assert deny["code"] == "invalid_value" and deny["path"] == "bin.dat"
                assert "base64" in deny["message"] and "base64" in deny["recover"]
                for python in ("JSON-serializable", "bytes, str", "binascii", "Error"):
                    assert python not in deny["message"] + deny["recover"], deny
            deny = await call(s, "publish", files={"a.bin": "@@"}, encoding="base64")
            assert deny["code"] == "invalid_value" and deny["path"] == "a.bin"
            assert not (tmp_path / "bin.dat").exists() and not (tmp_path / "a.bin").exists()
            ok = await call(s, "write", path="bin.dat", content=base64.b64encode(b"\0\1").decode(),
                            encoding="base64")
            assert ok["ok"]
    run(scenario)


@pytest.mark.parametrize("managed", ["../**", "/abs/**", ","])
def test_a_bad_swg_managed_is_one_typed_line(tmp_path, managed):
    env = dict(os.environ, SWG_ROOT=str(tmp_path), SWG_MANAGED=managed)
    out = subprocess.run(SERVER, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=60)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("stale-write-guard-fs: error [invalid_request]: ")
    assert "SWG_MANAGED" in lines[0] and "Traceback" not in out.stderr and "managed=" not in lines[0]


def test_mcp_floor_excludes_the_releases_that_crash_at_startup():
    """mcp <= 1.21.0 fails at import with current pydantic (eval_type_backport moved): the
    server would crash at startup. Checked by hand in throwaway venvs; see CHANGELOG."""
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert "mcp>=1.21.1" in pyproject["project"]["optional-dependencies"]["mcp"]
