"""The real Claude Code (`claude -p`, npm package @anthropic-ai/claude-code, installed by
.ci/claude-code.sh) with `ccs hook claude-code` in its project settings, against a stub model
server (stub_model.py) that scripts the tool calls. Everything runs in a network namespace that
has only loopback, so Claude Code can reach nothing but the stub.

Two Claude Code processes edit one plan.md through the built-in Edit tool: B's edit, made on a
view older than A's edit, is denied by the hook; the denial reason is in the tool_result of B's
next request to the model; B reads again, edits again, and the file keeps both edits. Then the
MCP server (`claude mcp add`): a tool call's result reaches the next request.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent / "src"
VERSION = "2.1.197"  # the version .ci/claude-code.sh installs
PORT = 8765
PLAN = "# Plan\n- step 1\n"


def claude_binary() -> str:
    cache = Path(os.environ.get("CCS_CACHE_DIR") or Path.home() / ".cache" / "agent-coherence")
    path = cache / f"claude-code-{VERSION}" / "node_modules" / ".bin" / "claude"
    if not path.exists():
        if os.environ.get("CCS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{path} is missing: run .ci/claude-code.sh")
        pytest.skip(f"Claude Code is not installed ({path}): run .ci/claude-code.sh")
    return str(path)


@pytest.fixture
def netns():
    if os.geteuid() != 0 or shutil.which("ip") is None:
        if os.environ.get("CCS_REQUIRE_SERVICES") == "1":
            pytest.fail("the real Claude Code test needs root and iproute2 (a network namespace)")
        pytest.skip("network namespaces (ip netns) need root and iproute2")
    name = f"ccs-cc-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


class Stub:
    def __init__(self, ns: str, tmp: Path, scenario: str, root: Path | str) -> None:
        self.log = tmp / f"stub-{scenario}.jsonl"
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, str(HERE / "stub_model.py"), str(PORT),
             str(self.log), scenario, str(root)], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "listening"

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def claude_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(SRC),
            "ANTHROPIC_BASE_URL": f"http://127.0.0.1:{PORT}", "ANTHROPIC_API_KEY": "dummy",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}


def claude(ns: str, root: Path, home: Path, prompt: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, claude_binary(), "-p", prompt, "--output-format", "json",
         "--permission-mode", "acceptEdits", *args],
        cwd=root, env=claude_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out)


def settings(mode: str, *args: str) -> dict:
    command = " ".join([sys.executable, "-m", "ccs.cli.main", "hook", "claude-code", "--mode", mode, *args])
    hook = {"type": "command", "command": command, "timeout": 30}
    tools = "Read|Edit|MultiEdit|Write|NotebookEdit"
    return {"hooks": {"PreToolUse": [{"matcher": tools, "hooks": [hook]}],
                      "PostToolUse": [{"matcher": tools, "hooks": [hook]}],
                      "SessionEnd": [{"hooks": [hook]}]}}


def tool_results(request: dict) -> list[str]:
    out = []
    for m in request["body"].get("messages", []):
        for c in m["content"] if isinstance(m["content"], list) else []:
            if c.get("type") == "tool_result":
                content = c.get("content")
                out.append(content if isinstance(content, str) else
                           "".join(x.get("text", "") for x in content or []))
    return out


def mcp_results(request: dict) -> list[str]:
    messages = request["body"].get("messages", [])
    mcp_ids = {c["id"] for m in messages if m["role"] == "assistant" and isinstance(m["content"], list)
               for c in m["content"] if c.get("type") == "tool_use" and c["name"].startswith("mcp__guard__")}
    return [text for m in messages if isinstance(m["content"], list) for c in m["content"]
            if c.get("type") == "tool_result" and c.get("tool_use_id") in mcp_ids
            for text in [c["content"] if isinstance(c["content"], str)
                         else "".join(x.get("text", "") for x in c["content"] or [])]]


def session_requests(stub: Stub, name: str) -> list[dict]:
    return [r for r in stub.requests() if r["path"].startswith("/v1/messages")
            and any(name in json.dumps(m["content"]) for m in r["body"].get("messages", [])[:1])
            and any(t.get("name") == "Edit" for t in r["body"].get("tools") or [])]


def run_two_sessions(ns: str, tmp: Path, root_a: Path, root_b: Path) -> tuple[dict, dict, Stub]:
    stub = Stub(ns, tmp, "hooks", f"{root_a},{root_b}")
    try:
        b = claude(ns, root_b, tmp / "home-b", "You are session B: add step B to plan.md")
        a = claude(ns, root_a, tmp / "home-a", "You are session A: add step A to plan.md")
        result_a, result_b = finish(a), finish(b)
    finally:
        stub.stop()
    assert result_a["result"] == "A done", result_a
    assert result_b["result"] == "B done", result_b
    return result_a, result_b, stub


def repo(root: Path, mode: str, *hook_args: str) -> Path:
    (root / ".claude").mkdir(parents=True)
    (root / "plan.md").write_text(PLAN)
    (root / ".claude" / "settings.json").write_text(json.dumps(settings(mode, *hook_args)))
    return root


def ccs_json(*args: str) -> list | dict:
    proc = subprocess.run([sys.executable, "-m", "ccs.cli.main", *args, "--json"], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(SRC)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("mode", ["strict", "warn"])
def test_the_hook_catches_a_stale_edit_in_the_real_claude_code(netns, tmp_path, mode):
    """Two clones of one repository (two worktrees, or two machines) sharing one engine: Claude
    Code's own check (the mtime of the file on its disk) cannot see the other clone's edit, the
    hook can. Strict: B's edit is denied by the hook, the model sees why, re-reads and re-edits.
    Warn: the warning reaches the model as context; the hook has meanwhile brought B's file up to
    the current version, so Claude Code's own check in the Edit tool refuses the stale edit."""
    engine = f"sqlite:///{tmp_path}/shared.db"
    root_a = repo(tmp_path / "clone-a", mode, "--engine", engine)
    root_b = repo(tmp_path / "clone-b", mode, "--engine", engine)
    result_a, _, stub = run_two_sessions(netns, tmp_path, root_a, root_b)
    both = "# Plan\n- step B\n- step 1\n- step A\n"
    assert (root_b / "plan.md").read_text() == both
    # B's third request to the model carries what the hook said about the Edit
    b_requests = session_requests(stub, "session B")
    said = ("you read version 1, it is now version 2, written by Claude Code session "
            f"{result_a['session_id'][:8]}")
    if mode == "strict":
        denial = tool_results(b_requests[2])[-1]
        assert "[agent-coherence] Edit refused: plan.md changed since this session read it" in denial
        assert said in denial
    else:
        last = json.dumps(b_requests[2]["body"]["messages"][-1]["content"])
        assert "PreToolUse:Edit hook additional context: [agent-coherence] Warning: plan.md changed" in last
        assert said in last
        assert "File content has changed since it was last read" in tool_results(b_requests[2])[-1]
    assert "has been updated successfully" in tool_results(b_requests[-1])[-1]
    shown = ccs_json("show", "plan.md@3", "--engine", engine)
    assert shown["content"] == both  # the engine holds both edits (clone A gets them on next access)
    # SessionEnd released both sessions' views
    views = [r for r in ccs_json("status", "--all", "--engine", engine)
             if r["artifact"].startswith(".ccs/claude-code/")]
    assert len(views) == 2 and all(not r["exists"] for r in views), views


def test_two_sessions_on_one_disk_keep_both_edits(netns, tmp_path):
    """On one disk, Claude Code's own check (run before PreToolUse hooks) refuses B's edit first
    ("File has been modified since read"); the hook still records both sessions' commits."""
    root = repo(tmp_path / "repo", "strict")
    result_a, result_b, stub = run_two_sessions(netns, tmp_path, root, root)
    assert (root / "plan.md").read_text() == "# Plan\n- step B\n- step 1\n- step A\n"
    refusal = tool_results(session_requests(stub, "session B")[2])[-1]
    assert "File has been modified since read" in refusal
    log = ccs_json("log", "plan.md", "--engine", f"sqlite:///{root}/.ccs/state.db")
    committed = {e["version"]: e["agent_name"] for e in log if e["outcome"] == "committed"}
    assert committed == {1: "outside-any-session", 2: f"claude-code:{result_a['session_id']}",
                         3: f"claude-code:{result_b['session_id']}"}


def test_claude_code_calls_the_mcp_server(netns, tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "plan.md").write_text(PLAN)
    home = tmp_path / "home"
    add = subprocess.run(
        [claude_binary(), "mcp", "add", "--scope", "project", "guard", "--", sys.executable, "-m",
         "ccs.adapters.mcp_server", "--root", str(root)],
        cwd=root, env=claude_env(home), capture_output=True, text=True, timeout=60)
    assert add.returncode == 0, add.stderr
    assert "guard" in json.loads((root / ".mcp.json").read_text())["mcpServers"]
    stub = Stub(netns, tmp_path, "mcp", root)
    try:
        result = finish(claude(netns, root, home, "You are session MCP: append to plan.md",
                               "--allowedTools", "mcp__guard__read,mcp__guard__write",
                               "--strict-mcp-config", "--mcp-config", str(root / ".mcp.json")))
    finally:
        stub.stop()
    assert result["result"] == "MCP done", result
    requests = session_requests(stub, "session MCP")
    read_at = next(i for i, r in enumerate(requests) if len(mcp_results(r)) == 1)
    read = json.loads(mcp_results(requests[read_at])[0])  # the result reached the next request
    assert read["ok"] is True and read["content"] == PLAN and read["version"] == 1
    wrote = json.loads(mcp_results(requests[read_at + 1])[1])
    assert wrote["ok"] is True and wrote["version"] == 2
    assert (root / "plan.md").read_text() == PLAN + "- via MCP\n"
