"""`ccs hook claude-code --server` against a real `ccs serve` process (which mounts
ccs.hooks.http's routes), with its generated token file: the two-session scenario end to end over
loopback HTTP. Runs where `ccs serve` exists (ccs.server)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from claude_hooks import Session, hook_process, run_hook, stale_edit_denied_then_redone

pytest.importorskip("ccs.server.run")


@pytest.fixture
def serve(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    token = tmp_path / "token"
    proc = subprocess.Popen([sys.executable, "-m", "ccs.cli.main", "serve", "--engine",
                             f"sqlite:///{tmp_path}/state.db", "--port", "0", "--json",
                             "--token-file", str(token)],
                            cwd=repo, stdout=subprocess.PIPE, text=True)  # its repository: cwd
    try:
        announced = json.loads(proc.stdout.readline())
        yield repo, announced["url"], token
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_two_sessions_through_ccs_serve(serve):
    repo, url, token = serve
    (repo / "plan.md").write_text("# Plan\n- step 1\n")
    args = ("--mode", "strict", "--server", url, "--token-file", str(token))
    stale_edit_denied_then_redone(repo, lambda payload: run_hook(payload, *args))
    edit = Session("c3", repo, None).payload("PreToolUse", "Edit", {"file_path": str(repo / "plan.md")})
    proc = hook_process(edit, "--server", url, env={"CCS_TOKEN": "not-the-token"})
    assert proc.returncode == 0 and "unauthorized" in proc.stdout  # warn mode: said, not denied
