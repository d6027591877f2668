"""Shared by the end-to-end MCP tests that run a client outside this interpreter (the TypeScript SDK,
the Python SDK at the ``mcp`` floor): the environments they need, built once and cached outside the
checkout, and the checks on the summary their client script prints.

The cache is ``${CCS_CACHE_DIR:-~/.cache/agent-coherence}``, as for the CrewAI venv
(``.ci/crewai-env.sh``): fresh clones on one machine (CI runs on one) reuse what an earlier run built.
Each entry is named by a hash of what decides its contents, built under a lock (one builder at a
time; the others wait, then find it ready), marked ``.ready`` when complete and touched on each use;
entries of the same kind unused for a week are removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
SERVER_MODULE = "ccs.adapters.mcp_server"
TOOLS = {"read", "write", "write_cas", "reacquire", "publish", "status"}
SEED = "# plan\n"


def cache_root() -> Path:
    path = Path(os.environ.get("CCS_CACHE_DIR") or Path.home() / ".cache" / "agent-coherence")
    return path.expanduser().resolve()  # absolute: tests/mcp_ts/node_modules links to it


def require_executable(name: str) -> str:
    """The path of ``name``; skip without it (fail under CCS_REQUIRE_SERVICES=1)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CCS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{name} is not on PATH but CCS_REQUIRE_SERVICES=1")
        pytest.skip(f"{name} is not on PATH")
    return path


def cached(kind: str, key: str, build: Callable[[Path], None]) -> tuple[Path, float | None]:
    """``<cache>/<kind>-<key>``, built by ``build(dir)`` if it is not ready yet; and the seconds
    the build took (None when it was already there)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"{kind}-{key}"
    took = None
    with open(f"{target}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".ready").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            start = time.monotonic()
            build(target)
            took = time.monotonic() - start
        (target / ".ready").touch()  # last use
    week = time.time() - 7 * 86400
    for ready in root.glob(f"{kind}-*/.ready"):
        with contextlib.suppress(OSError):
            if ready.stat().st_mtime < week:
                shutil.rmtree(ready.parent, ignore_errors=True)
                Path(f"{ready.parent}.lock").unlink(missing_ok=True)
    return target, took


def server_env(root: Path) -> dict[str, str]:
    """The environment for a client that spawns the server: this checkout's ``src`` first on
    PYTHONPATH (the server runs this checkout's code whatever is installed), the workspace root."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(CHECKOUT / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env["SWG_ROOT"] = str(root)
    return env


def seed(root: Path) -> None:
    (root / "plan.md").write_text(SEED, encoding="utf-8")


def check_summary(summary: dict, root: Path, version: str) -> None:
    """The two-session scenario as the client saw it: A reads, B reads and writes, A's write from
    its stale read is refused (nothing written), A reacquires, re-derives and writes; both edits
    land. Tool annotations and serverInfo arrive as the server sends them."""
    assert summary["server_info"]["name"] == "stale-write-guard-fs"
    assert summary["server_info"]["version"] == version

    tools = summary["tools"]
    assert set(tools) >= TOOLS, sorted(tools)
    for name in ("read", "status"):
        assert tools[name]["annotations"]["readOnlyHint"] is True, (name, tools[name])
    for name in ("write", "write_cas", "publish"):
        ann = tools[name]["annotations"]
        assert ann["readOnlyHint"] is False and ann["destructiveHint"] is True, (name, ann)
    assert tools["reacquire"]["annotations"]["destructiveHint"] is False
    assert all(t["annotations"]["openWorldHint"] is False for t in tools.values())
    assert tools["write"]["title"] == "Write a file"

    steps = summary["steps"]
    for name, step in steps.items():
        assert step["structuredMatches"], (name, step)  # structuredContent == the JSON text
        assert step["isError"] == (not step["payload"]["ok"]), (name, step)

    assert (steps["a_read"]["payload"]["content"], steps["a_read"]["payload"]["version"]) == (SEED, 1)
    assert steps["b_read"]["payload"]["version"] == 1
    assert steps["b_write"]["payload"] == {"ok": True, "path": "plan.md", "version": 2}

    deny = steps["a_stale_write"]
    assert deny["isError"] is True, deny
    p = deny["payload"]
    assert (p["ok"], p["code"], p["path"], p["current_version"]) == (False, "stale_view", "plan.md", 2), p
    assert "reacquire" in p["recover"] and p["retryable"] is True

    cur = steps["a_reacquire"]["payload"]
    assert (cur["ok"], cur["content"], cur["version"]) == (True, SEED + "- bob\n", 2)
    assert steps["a_write"]["payload"] == {"ok": True, "path": "plan.md", "version": 3}
    final = steps["b_final_read"]["payload"]
    assert (final["content"], final["version"]) == (SEED + "- bob\n- alice\n", 3)
    assert summary["final_content"] == SEED + "- bob\n- alice\n"
    assert (root / "plan.md").read_text(encoding="utf-8") == SEED + "- bob\n- alice\n"


def python_server_command(python: str | None = None) -> list[str]:
    return [python or sys.executable, "-m", SERVER_MODULE]
