"""The ``mcp`` floor that ``pyproject.toml`` declares (``mcp = ["mcp>=X"]``) really works: a venv with
exactly ``mcp==X`` and this package (``pip install -e <checkout> "mcp==X"``, no other extras) runs
the two-session stale-write scenario, Python ``mcp`` client and server both from that venv.

The floor is read from ``pyproject.toml``, so raising it keeps this test honest. The venv is built
once per machine under ``${CCS_CACHE_DIR:-~/.cache/agent-coherence}/venv-mcp-floor-<key>`` (the key
hashes the floor, the Python version, the core dependencies and the project version); later runs,
fresh clones included, reuse it and run this checkout's ``src`` first on PYTHONPATH.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mcp_e2e import CHECKOUT, cached, check_summary, python_server_command, seed, server_env

pytestmark = pytest.mark.slow

PYPROJECT = CHECKOUT / "pyproject.toml"
CLIENT = Path(__file__).resolve().parent / "mcp_python_client.py"


def project() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def mcp_floor() -> str:
    (spec,) = [s for s in project()["optional-dependencies"]["mcp"] if re.match(r"mcp\s*[<>=!~]", s)]
    match = re.fullmatch(r"mcp\s*>=\s*([0-9][0-9A-Za-z.]*)", spec.split(";")[0].strip())
    assert match, f"the [mcp] extra should give a floor as mcp>=X, got {spec!r}"
    return match.group(1)


def floor_venv() -> tuple[Path, str, float | None]:
    floor = mcp_floor()
    key_src = json.dumps([floor, sys.version_info[:2], project()["dependencies"], project()["version"],
                          1])  # the last: bump when build() changes
    key = f"{floor}-{hashlib.sha256(key_src.encode()).hexdigest()[:10]}"

    def build(venv: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                               "-e", str(CHECKOUT), f"mcp=={floor}"],
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"pip install failed:\n{done.stdout}\n{done.stderr}"

    venv, took = cached("venv-mcp-floor", key, build)
    return venv, floor, took


def test_server_and_client_at_the_mcp_floor(tmp_path):
    venv, floor, took = floor_venv()
    if took is not None:
        print(f"built {venv} in {took:.1f} s")
    python = str(venv / "bin" / "python")
    seed(tmp_path)
    cmd = [python, str(CLIENT), "--root", str(tmp_path), "--", *python_server_command(python)]
    done = subprocess.run(cmd, env=server_env(tmp_path), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"{CLIENT.name} exited {done.returncode}:\n{done.stderr}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["mcp_version"] == floor  # client and server ran mcp at the floor, from the venv
    assert Path(summary["python"]).parent.parent == venv
    check_summary(summary, tmp_path, project()["version"])
