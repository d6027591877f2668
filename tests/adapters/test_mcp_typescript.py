"""stale-write-guard-fs driven by a non-Python MCP client: the official TypeScript SDK
(``@modelcontextprotocol/sdk``, pinned in ``tests/mcp_ts/package-lock.json``) over stdio.

``tests/mcp_ts/client.mjs`` spawns two servers (agents alice and bob) on one workspace and runs the
two-session scenario; this test checks the JSON summary it prints. The SDK is installed with
``npm ci`` into ``${CCS_CACHE_DIR:-~/.cache/agent-coherence}/mcp-ts-<hash of the lock file>``
(once per machine and lock file), and ``tests/mcp_ts/node_modules`` is a symlink to it (git-ignored).
A ``node_modules`` directory made there by hand (``npm ci`` in ``tests/mcp_ts``) is used as is.
Skipped without node (a failure under ``CCS_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ccs._meta import package_version
from mcp_e2e import (
    CHECKOUT,
    cached,
    check_summary,
    python_server_command,
    require_executable,
    seed,
    server_env,
)

TS = CHECKOUT / "tests" / "mcp_ts"


def lock_pin() -> str:
    lock = json.loads((TS / "package-lock.json").read_text(encoding="utf-8"))
    return lock["packages"]["node_modules/@modelcontextprotocol/sdk"]["version"]


def node_modules() -> Path:
    local = TS / "node_modules"
    if local.is_dir() and not local.is_symlink():
        return local
    key = hashlib.sha256((TS / "package-lock.json").read_bytes()).hexdigest()[:12]

    def build(target: Path) -> None:
        npm = require_executable("npm")
        for name in ("package.json", "package-lock.json"):
            shutil.copy2(TS / name, target / name)
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"npm ci failed in {target}:\n{done.stdout}\n{done.stderr}"

    target, took = cached("mcp-ts", key, build)
    if took is not None:
        print(f"npm ci into {target}: {took:.1f} s")
    modules = target / "node_modules"
    if not (local.is_symlink() and os.readlink(local) == str(modules)):
        tmp = TS / f".node_modules.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(modules, target_is_directory=True)
        os.replace(tmp, local)  # atomic: a concurrent run sees the old link or the new one
    return local


@pytest.fixture(scope="module")
def node() -> str:
    node = require_executable("node")
    node_modules()
    return node


def run_client(node: str, root: Path, timeout: float = 120) -> dict:
    seed(root)
    done = subprocess.run([node, str(TS / "client.mjs"), "--root", str(root), "--",
                           *python_server_command()],
                          env=server_env(root), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"client.mjs exited {done.returncode}:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_typescript_sdk_two_sessions_stale_write_refused_and_recovered(node, tmp_path):
    summary = run_client(node, tmp_path)
    assert summary["sdk_version"] == lock_pin()  # the pinned SDK is the one that ran
    check_summary(summary, tmp_path, package_version())
    assert "reacquire(path)" in summary["instructions"]


def test_pinned_sdk_is_exact():
    """The lock file and package.json agree on one exact SDK version (no range)."""
    pkg = json.loads((TS / "package.json").read_text(encoding="utf-8"))
    assert pkg["dependencies"]["@modelcontextprotocol/sdk"] == lock_pin()
