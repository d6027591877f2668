"""The README's "Coding sessions on one repository" example and the shipped example settings run
as written (through the `ccs` on PATH, as Claude Code would run them)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from claude_hooks import Session, denied

ROOT = Path(__file__).resolve().parent.parent.parent


def env_with_ccs(tmp_path: Path) -> dict[str, str]:
    bin_dir = Path(sys.executable).parent  # the venv's `ccs`, which imports this checkout
    src = str(ROOT / "src")
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "TMPDIR": str(tmp_path),
            "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}


def fenced_after(heading: str, lang: str) -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index(heading):]
    return re.search(rf"```{lang}\n(.*?)```", section, re.S).group(1)


def test_readme_coding_sessions_example_runs(tmp_path):
    script = fenced_after("## Coding sessions on one repository", "bash")
    proc = subprocess.run(["bash", "-euc", script], capture_output=True, text=True, timeout=120,
                          env=env_with_ccs(tmp_path))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:4] == ["{}"] * 4
    shown = json.loads(fenced_after("## Coding sessions on one repository", "json"))
    assert json.loads(lines[4]) == shown


def test_example_settings_run_as_claude_code_runs_them(tmp_path):
    settings = json.loads((ROOT / "examples/claude-code/.claude/settings.json").read_text())
    commands = {h["command"] for event in ("PreToolUse", "PostToolUse", "SessionEnd")
                for group in settings["hooks"][event] for h in group["hooks"]}
    assert commands == {"ccs hook claude-code --mode strict"}
    for event in ("PreToolUse", "PostToolUse"):
        assert set(settings["hooks"][event][0]["matcher"].split("|")) >= {"Read", "Edit", "MultiEdit",
                                                                          "Write"}
    env = {**env_with_ccs(tmp_path), "CLAUDE_PROJECT_DIR": str(tmp_path)}

    def hook(payload):
        proc = subprocess.run(["bash", "-c", next(iter(commands))],
                              input=json.dumps(payload), capture_output=True, text=True, env=env,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    (tmp_path / "plan.md").write_text("# Plan\n")
    a, b = Session("a", tmp_path, hook), Session("b", tmp_path, hook)
    a.read("plan.md")
    b.read("plan.md")
    a.edit("plan.md", "# Plan\n", "# Plan\n- A\n")
    assert "written by Claude Code session a" in denied(b.edit("plan.md", "# Plan\n", "# Plan\n- B\n"))
