"""`ccs hook claude-code --server URL`: the stdlib client posting each payload to a real HTTP
server process (uvicorn) that serves ccs.hooks.http's routes, with a bearer token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from claude_hooks import Session, denied, hook_process, run_hook, stale_edit_denied_then_redone

pytest.importorskip("uvicorn")
HERE = Path(__file__).resolve().parent
PLAN = "# Plan\n- step 1\n"


@pytest.fixture
def server(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, str(HERE / "hook_server.py"), str(port_file),
                             f"sqlite:///{tmp_path}/state.db", "s3cret", str(tmp_path)])
    try:
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text()) and time.monotonic() < deadline:
            assert proc.poll() is None, "the hook server exited"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text()}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_through_the_server_with_a_token(tmp_path, server):
    (tmp_path / "plan.md").write_text(PLAN)
    token_file = tmp_path / "token"
    token_file.write_text("s3cret\n")
    args = ("--mode", "strict", "--server", server, "--token-file", str(token_file))
    a, _ = stale_edit_denied_then_redone(tmp_path, lambda payload: run_hook(payload, *args))
    big = "x" * 200_000 + "\n"  # only the fields the hooks read are posted, never the content
    assert a.write("big.md", big)["post"] == {}
    assert (tmp_path / "big.md").read_text() == big


def test_a_wrong_token_or_no_server_never_lets_a_strict_edit_through(tmp_path, server):
    (tmp_path / "plan.md").write_text(PLAN)
    s = Session("a1", tmp_path, None)
    read = s.payload("PostToolUse", "Read", {"file_path": str(tmp_path / "plan.md")}, {})
    proc = hook_process(read, "--server", server, env={"CCS_TOKEN": "wrong"})
    assert proc.returncode == 1 and "[unauthorized]: missing or wrong bearer token" in proc.stderr
    edit = s.payload("PreToolUse", "Edit", {"file_path": str(tmp_path / "plan.md")})
    out = run_hook(edit, "--mode", "strict", "--server", server)  # no token at all
    assert "[unauthorized]: missing or wrong bearer token" in denied(out)  # a code this build knows
    env = {k: v for k, v in os.environ.items() if k != "CCS_TOKEN"}
    proc = subprocess.run([sys.executable, "-m", "ccs.cli.main", "hook", "claude-code", "--mode",
                           "strict", "--server", "http://127.0.0.1:9"], input=json.dumps(edit),
                          capture_output=True, text=True, env=env, timeout=60)
    assert "[backend_unavailable]" in denied(json.loads(proc.stdout))
