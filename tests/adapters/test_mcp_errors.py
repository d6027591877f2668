"""The MCP server answers every refusal with its documented payload (``ok: false``, ``code``,
``path``, ``current_version``, ``recover``, ``retryable``), never a traceback or Python text:
paths that cannot name a file, names that are not text, operating-system errors, a symlink
swapped in, a state directory that is a file, a lost state. Real server processes over stdio."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("mcp")
from test_mcp_server import call, params, run, session

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.adapters.mcp_server import Tools

DENY_KEYS = {"ok", "code", "path", "current_version", "recover", "retryable"}


def denied(payload, code):
    assert set(payload) >= DENY_KEYS, payload
    assert payload["ok"] is False and payload["code"] == code, payload
    assert payload["recover"] and isinstance(payload["retryable"], bool)
    assert "Traceback" not in str(payload)
    return payload


def tree(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if ".ccs" in dirnames:
            dirnames.remove(".ccs")
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            kind = "link" if os.path.islink(full) else "dir" if os.path.isdir(full) else "file"
            body = {"link": os.readlink, "file": lambda f: Path(f).read_bytes()}.get(kind, str)(full)
            out[os.path.relpath(full, root)] = (kind, body)
    return out


BAD = [
    ("a.txt/b", "not_a_file"),
    ("d.txt", "not_a_file"),
    ("loop", "not_a_file"),
    ("loop/x", "not_a_file"),
    ("a\x00b", "path_outside_workspace"),
    ("n" * 300, "filesystem_error"),
]


def test_bad_paths_get_the_deny_payload_from_every_tool(tmp_path):
    with CoherentVolume(tmp_path, managed=("**",), agent="setup") as v:
        v.write("a.txt", "A\n")
        v.write("d.txt", "D\n")
    os.unlink(tmp_path / "d.txt")
    os.mkdir(tmp_path / "d.txt")
    os.symlink("loop", tmp_path / "loop")
    before = tree(tmp_path)

    async def scenario():
        async with session(params(tmp_path, "model")) as s:
            for path, code in BAD:
                for tool, args in (("read", {}), ("reacquire", {}), ("status", {}),
                                   ("write", {"content": "x"}),
                                   ("write_cas", {"expected_version": 0, "content": "x"})):
                    denied(await call(s, tool, path=path, **args), code)
                denied(await call(s, "publish", files={path: "x"}), code)
            deny = denied(await call(s, "write_cas", path="a.txt", expected_version="abc", content="x"),
                          "invalid_request")
            assert deny["details"]["invalid_fields"] == ["expected_version"]
            listing = await call(s, "status")
            assert listing["ok"]
            files = {f["path"]: f for f in listing["files"]}
            assert files["d.txt"]["disk"] == "error" and files["d.txt"]["error"]["code"] == "not_a_file"
            assert files["a.txt"]["disk"] == "clean"

    run(scenario)
    assert tree(tmp_path) == before


def test_symlink_swapped_in_is_refused_not_followed(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")

    async def scenario():
        async with session(params(root, "model")) as s:
            assert (await call(s, "write", path="plans/p.md", content="v1"))["ok"]
            os.rename(root / "plans", root / "plans.moved")
            os.symlink(outside, root / "plans")
            for tool, args in (("read", {}), ("write", {"content": "x"}), ("reacquire", {})):
                denied(await call(s, tool, path="plans/p.md", **args), "path_outside_workspace")
            listing = await call(s, "status")
            entry = listing["files"][0]
            assert entry["disk"] == "error" and entry["error"]["code"] == "path_outside_workspace"

    run(scenario)
    assert sorted(os.listdir(outside)) == ["secret.txt"]


def test_state_directory_that_is_a_file_then_fixed(tmp_path):
    (tmp_path / ".ccs").write_text("not a state\n")

    async def scenario():
        async with session(params(tmp_path, "model")) as s:  # the server starts regardless
            for tool, args in (("read", {"path": "a.md"}), ("status", {}),
                               ("write", {"path": "a.md", "content": "x"})):
                deny = denied(await call(s, tool, **args), "corrupt_state")
                assert ".ccs" in deny["recover"]
            assert not (tmp_path / "a.md").exists()
            os.unlink(tmp_path / ".ccs")  # fixed: the next call opens the volume
            assert (await call(s, "write", path="a.md", content="x"))["version"] == 1

    run(scenario)
    assert (tmp_path / "a.md").read_text() == "x"


def test_lost_state_without_managed_globs(tmp_path):
    with CoherentVolume(tmp_path, managed=("plans/**",), agent="setup") as v:
        v.write("plans/p.md", "p\n")
    (tmp_path / ".ccs" / "state.db").write_bytes(b"")
    for suffix in ("-wal", "-shm"):
        (tmp_path / ".ccs" / f"state.db{suffix}").unlink(missing_ok=True)

    async def scenario():
        async with session(params(tmp_path, "model")) as s:
            deny = denied(await call(s, "write", path="plans/p.md", content="blind"), "corrupt_state")
            assert "SWG_MANAGED" in deny["recover"]
        env = {"SWG_ROOT": str(tmp_path), "SWG_AGENT": "told", "SWG_MANAGED": "plans/**"}
        async with session(params(tmp_path, "told", env=env)) as s:
            denied(await call(s, "write", path="plans/p.md", content="blind"), "foreign_edit")
            got = await call(s, "read", path="plans/p.md")
            assert (got["content"], got["version"]) == ("p\n", 1)

    run(scenario)
    assert (tmp_path / "plans/p.md").read_text() == "p\n"


def test_names_that_are_not_unicode_get_a_payload_the_transport_can_carry(tmp_path):
    """The mcp client cannot even send a lone surrogate (and the server's transport drops such a
    request); a name reaching the tools anyway is refused, and the payload stays valid UTF-8."""
    with CoherentVolume(tmp_path, managed=("**",), agent="t") as v:
        tools = Tools(v)
        for payload in (tools.read("\udcff.txt"), tools.write("\ud800.txt", "x"),
                        tools.status("\udcff.txt"), tools.publish({"\udcff": "x"})):
            denied(payload, "invalid_id")
            json.dumps(payload, ensure_ascii=False).encode("utf-8")  # would raise on a surrogate
    assert os.listdir(tmp_path) == [".ccs"]
