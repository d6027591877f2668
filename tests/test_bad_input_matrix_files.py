"""The bad-input matrix for files: CoherentVolume, the MCP tools and the ``ccs`` CLI x hostile paths,
values and arguments. Each call works or gives a typed error (an MCP ``{ok: false, code}``
payload; a one-line ``ccs: error [code]`` and exit 1 from the CLI) and writes nothing: the tree
outside ``.ccs`` and the state's artifacts are unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import anyio
import pytest

from bad_inputs import NUMBERS, PATHS, TEXTS, WRONG_TYPES, attempt
from ccs import CoherenceError
from ccs.adapters import CoherentVolume
from ccs.protocol.errors import ERRORS_BY_CODE

ALL_PATHS = {**PATHS, **{f"type {k}": v for k, v in WRONG_TYPES.items()}}


def tree(root) -> dict:
    """Every file and directory under ``root`` (state directory excluded) and its bytes."""
    out = {}
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not (base == str(root) and d == ".ccs")]
        for name in dirs:
            out[os.path.relpath(os.path.join(base, name), root) + "/"] = None
        for name in files:
            full = os.path.join(base, name)
            with open(full, "rb") as f:
                out[os.path.relpath(full, root)] = f.read()
    return out


def snapshot(vol, root) -> tuple:
    records = {r.artifact_id: (r.version, r.content.digest)
               for r in vol.agent.coordinator.artifacts() if r.version}
    return tree(root), records


@pytest.fixture
def vol(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    v = CoherentVolume(root, encoding="utf-8")
    v.write("existing.md", "keep\n")
    v.write("plans/a.md", "plan\n")
    yield v, root
    v.close()




VOLUME_CALLS = {
    "read": lambda v, p: v.read(p, None),
    "read_bytes": lambda v, p: v.read_bytes(p, None),
    "read_with_version": lambda v, p: v.read_with_version(p),
    "reacquire": lambda v, p: v.reacquire(p),
    "write": lambda v, p: v.write(p, "new\n"),
    "delete": lambda v, p: v.delete(p),
    "write_cas_at": lambda v, p: v.write_cas_at(p, 0, "new\n"),
    "write_cas": lambda v, p: v.write_cas(p, lambda old: "new\n"),
    "publish": lambda v, p: v.publish({p: "new\n"}, {p: 0}),
    "status": lambda v, p: v.status(p),
}


@pytest.mark.parametrize("path", list(ALL_PATHS))
@pytest.mark.parametrize("call", list(VOLUME_CALLS))
def test_volume_paths(vol, call, path):
    v, root = vol
    if call == "publish" and isinstance(ALL_PATHS[path], list | dict):
        pytest.skip("an unhashable path cannot be a key of publish()'s mapping")
    outside = root.parent / "outside.md"
    before = snapshot(v, root)
    attempt(lambda: VOLUME_CALLS[call](v, ALL_PATHS[path]), before, lambda: snapshot(v, root))
    assert not outside.exists()


VOLUME_VALUES = {"int": 5, "None": None, "dict": {"a": 1}, "list": ["x"], "lone surrogate": "a\ud800b",
                 "huge": "x" * (17 * 1024 * 1024)}


@pytest.mark.parametrize("value", list(VOLUME_VALUES))
def test_volume_values(vol, value):
    v, root = vol
    v.read("existing.md")
    result = attempt(lambda: v.write("existing.md", VOLUME_VALUES[value]), snapshot(v, root),
                     lambda: snapshot(v, root))
    assert isinstance(result, CoherenceError), f"{value!r} was accepted"


@pytest.mark.parametrize("value", list(NUMBERS))
@pytest.mark.parametrize("arg", ["lock_timeout", "write_cas retries", "write_cas_at version"])
def test_volume_numbers(vol, tmp_path, arg, value):
    v, root = vol
    n = NUMBERS[value]
    calls = {
        "lock_timeout": lambda: CoherentVolume(root, lock_timeout=n).close(),
        "write_cas retries": lambda: v.write_cas("existing.md", lambda old: old, retries=n),
        "write_cas_at version": lambda: v.write_cas_at("existing.md", n, "x\n"),
    }
    attempt(calls[arg], snapshot(v, root), lambda: snapshot(v, root))


@pytest.mark.parametrize("arg", [{"durable": "yes"}, {"encoding": 5}, {"encoding": "no-such-codec"},
                                 {"managed": 5}, {"managed": ["../**"]}, {"managed": []},
                                 {"agent": ""}, {"agent": "a\ud800"}, {"engine": "nosuch://"}])
def test_volume_constructor(tmp_path, arg):
    with pytest.raises(CoherenceError) as err:
        CoherentVolume(tmp_path, **arg).close()
    assert err.value.code in ERRORS_BY_CODE and err.value.recover


# --- MCP tools ---------------------------------------------------------------------------------

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters, stdio_client  # noqa: E402

MCP_ARGS = {
    "path wrong type": ("read", {"path": 5}),
    "path missing": ("read", {}),
    "path dotdot": ("read", {"path": "../outside.md"}),
    "path absolute": ("write", {"path": "/tmp/x.md", "content": "x"}),
    "path NUL": ("write", {"path": "a\x00.md", "content": "x"}),
    "path state": ("write", {"path": ".ccs/state.db", "content": "x"}),
    "path below file": ("write", {"path": "existing.md/x.md", "content": "x"}),
    "content wrong type": ("write", {"path": "n.md", "content": 5}),
    "content missing": ("write", {"path": "n.md"}),
    "bad base64": ("write", {"path": "n.md", "content": "!!!", "encoding": "base64"}),
    "unknown encoding": ("write", {"path": "n.md", "content": "x", "encoding": "rot13"}),
    "version string": ("write_cas", {"path": "existing.md", "expected_version": "1", "content": "x"}),
    "version negative": ("write_cas", {"path": "existing.md", "expected_version": -1, "content": "x"}),
    "version huge": ("write_cas", {"path": "existing.md", "expected_version": 2 ** 70, "content": "x"}),
    "publish files not a dict": ("publish", {"files": ["a"], "expected_versions": {}}),
    "publish version negative": ("publish", {"files": {"a.md": "x"}, "expected_versions": {"a.md": -1}}),
    "publish path tricks": ("publish", {"files": {"../a.md": "x"}, "expected_versions": {"../a.md": 0}}),
    "status path trick": ("status", {"path": "/etc/passwd"}),
    "unknown argument": ("read", {"path": "existing.md", "nope": 1}),
}


def test_mcp_tools(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "existing.md").write_text("keep\n")
    env = {**os.environ, "SWG_ROOT": str(root), "SWG_AGENT": "matrix"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "ccs.adapters.mcp_server"], env=env)

    async def scenario():
        async with stdio_client(params) as (r, w), ClientSession(r, w) as s:
            await s.initialize()
            for name, (tool, arguments) in MCP_ARGS.items():
                before = tree(root)
                result = await s.call_tool(tool, arguments)
                payload = json.loads(result.content[0].text)
                assert result.is_error and payload["ok"] is False, (name, payload)
                assert payload["code"] in ERRORS_BY_CODE and payload["recover"], (name, payload)
                assert tree(root) == before, name
                assert not (tmp_path / "outside.md").exists() and not os.path.exists("/tmp/x.md")

    anyio.run(scenario, backend="asyncio")


# --- CLI ---------------------------------------------------------------------------------------

CLI_ARGS = {
    "engine unknown": ["status", "--engine", "nosuch://x"],
    "engine missing file": ["status", "--engine", "sqlite:///{tmp}/nope/state.db"],
    "engine garbage file": ["status", "--engine", "sqlite:///{tmp}/garbage.db"],
    "engine bad param": ["status", "--engine", "postgresql://u:s3cret@127.0.0.1:5432/x?pool_max=abc"],
    "sweep unknown": ["sweep", "--engine", "redis://127.0.0.1:notaport/0"],
    "simulate missing": ["simulate", "no-such-scenario"],
    **{f"status prefix {k}": ["status", "--engine", "memory://", "--prefix", v]
       for k, v in TEXTS.items() if k in {"DEL", "newline", "max code point"}},
}


@pytest.mark.parametrize("name", list(CLI_ARGS))
def test_cli(tmp_path, name):
    (tmp_path / "garbage.db").write_bytes(os.urandom(4096))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in CLI_ARGS[name]]
    before = tree(tmp_path)
    out = subprocess.run([sys.executable, "-m", "ccs.cli.main", *argv], capture_output=True, text=True,
                         timeout=60, errors="replace")
    assert out.returncode in (0, 1), out.stderr
    if out.returncode == 1:
        assert out.stderr.startswith("ccs: error ["), out.stderr
        assert "Traceback" not in out.stderr and "s3cret" not in out.stderr
        assert tree(tmp_path) == before
