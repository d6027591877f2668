"""Claude Code hook payloads as Claude Code 2.1 sends them (shapes logged from a real `claude -p`
run: tests/hooks/test_real_claude_code.py), a tool that applies them to the file as the real tools
do, and `ccs hook claude-code` run as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def hook_process(payload: dict[str, Any] | str, *args: str, env: dict[str, str] | None = None
                 ) -> subprocess.CompletedProcess[str]:
    raw = payload if isinstance(payload, str) else json.dumps(payload)
    return subprocess.run([sys.executable, "-m", "ccs.cli.main", "hook", "claude-code", *args],
                          input=raw, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def run_hook(payload: dict[str, Any] | str, *args: str) -> dict[str, Any]:
    proc = hook_process(payload, *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def denied(out: dict[str, Any]) -> str | None:
    spec = out.get("hookSpecificOutput", {})
    return spec.get("permissionDecisionReason") if spec.get("permissionDecision") == "deny" else None


def context(out: dict[str, Any]) -> str | None:
    return out.get("hookSpecificOutput", {}).get("additionalContext")


@dataclass
class Session:
    """One Claude Code session: builds its payloads, runs them through a hook runner, and does
    what the real tool does in between (only when the PreToolUse hook did not deny)."""

    sid: str
    root: Path
    hook: Any  # payload -> hook output
    calls: int = 0
    log: list[dict[str, Any]] = field(default_factory=list)

    def payload(self, event: str, tool: str, tool_input: dict[str, Any],
                response: Any = None, tool_use_id: str | None = None) -> dict[str, Any]:
        p = {"session_id": self.sid, "transcript_path": f"/tmp/{self.sid}.jsonl",
             "cwd": str(self.root), "permission_mode": "acceptEdits", "hook_event_name": event,
             "tool_name": tool, "tool_input": tool_input, "tool_use_id": tool_use_id}
        if response is not None:
            p["tool_response"] = response
        return p

    def _tool(self, tool: str, tool_input: dict[str, Any], apply: Any) -> dict[str, Any]:
        self.calls += 1
        tid = f"toolu_{self.sid}_{self.calls}"
        pre = self.hook(self.payload("PreToolUse", tool, tool_input, tool_use_id=tid))
        self.log.append(pre)
        if denied(pre):
            return pre
        response = apply()
        post = self.hook(self.payload("PostToolUse", tool, tool_input, response, tid))
        self.log.append(post)
        return {"pre": pre, "post": post}

    def read(self, name: str) -> dict[str, Any]:
        path = self.root / name

        def apply() -> dict[str, Any]:
            text = path.read_text()
            lines = text.count("\n") + 1
            return {"type": "text", "file": {"filePath": str(path), "content": text,
                                             "numLines": lines, "startLine": 1, "totalLines": lines}}
        return self._tool("Read", {"file_path": str(path)}, apply)

    def edit(self, name: str, old: str, new: str) -> dict[str, Any]:
        path = self.root / name
        tool_input = {"file_path": str(path), "old_string": old, "new_string": new,
                      "replace_all": False}

        def apply() -> dict[str, Any]:
            original = path.read_text()
            assert old in original, f"{old!r} not in {original!r}"
            path.write_text(original.replace(old, new, 1))
            return {"filePath": str(path), "oldString": old, "newString": new,
                    "originalFile": original, "userModified": False, "replaceAll": False}
        return self._tool("Edit", tool_input, apply)

    def multi_edit(self, name: str, edits: list[tuple[str, str]]) -> dict[str, Any]:
        path = self.root / name
        tool_input = {"file_path": str(path),
                      "edits": [{"old_string": o, "new_string": n} for o, n in edits]}

        def apply() -> dict[str, Any]:
            original = text = path.read_text()
            for old, new in edits:
                text = text.replace(old, new, 1)
            path.write_text(text)
            return {"filePath": str(path), "edits": tool_input["edits"], "originalFile": original}
        return self._tool("MultiEdit", tool_input, apply)

    def write(self, name: str, content: str) -> dict[str, Any]:
        path = self.root / name

        def apply() -> dict[str, Any]:
            kind = "update" if path.exists() else "create"
            path.write_text(content)
            return {"type": kind, "filePath": str(path), "content": content}
        return self._tool("Write", {"file_path": str(path), "content": content}, apply)

    def bash(self, command: str) -> dict[str, Any]:
        def apply() -> dict[str, Any]:
            proc = subprocess.run(["bash", "-c", command], cwd=self.root, capture_output=True,
                                  text=True, timeout=30)
            return {"stdout": proc.stdout, "stderr": proc.stderr, "interrupted": False}
        return self._tool("Bash", {"command": command, "description": "run"}, apply)

    def end(self) -> dict[str, Any]:
        return self.hook({"session_id": self.sid, "transcript_path": f"/tmp/{self.sid}.jsonl",
                          "cwd": str(self.root), "hook_event_name": "SessionEnd", "reason": "other"})


def stale_edit_denied_then_redone(root: Path, hook: Any) -> tuple[Session, Session]:
    """The core scenario on ``root/plan.md`` (``# Plan\\n- step 1\\n``): sessions a1 and b2 read
    it, a1 edits, b2's edit is denied naming a1, b2 reads again and redoes it; both edits stay."""
    a, b = Session("a1", root, hook), Session("b2", root, hook)
    a.read("plan.md")
    b.read("plan.md")
    a.edit("plan.md", "- step 1\n", "- step 1\n- A\n")
    reason = denied(b.edit("plan.md", "# Plan\n", "# Plan\n- B\n"))
    assert reason is not None and "written by Claude Code session a1" in reason
    b.read("plan.md")
    b.edit("plan.md", "# Plan\n", "# Plan\n- B\n")
    assert (root / "plan.md").read_text() == "# Plan\n- B\n- step 1\n- A\n"
    return a, b
