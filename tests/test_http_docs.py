"""docs/http.md and the README's "Any language, over HTTP" run as written against real ``ccs serve``
processes: the ```bash blocks with real curl and bash (only the port 8787 is replaced by a free
one), the ```python blocks in a subprocess; every ``# -> text`` line after a command must appear in
what it printed (for Python: the lines printed, in order). The OpenAPI description covers every
route the app serves."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from http_server import ROOT, env, serve

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.S | re.M)
EXPECT = re.compile(r"^\s*#\s*->\s?(.*)$")
PY_EXPECT = re.compile(r"^\s*print\(.*\)\s*#\s*->\s?(.*)$")


def blocks(text: str, lang: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(text) if m.group(1).strip() == lang]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chunks(script: str) -> list[tuple[str, list[str]]]:
    """Commands, each with the ``# ->`` expectations that follow it."""
    out: list[tuple[list[str], list[str]]] = [([], [])]
    for line in script.splitlines():
        m = EXPECT.match(line)
        if m:
            out[-1][1].append(m.group(1))
        else:
            if out[-1][1]:
                out.append(([], []))
            out[-1][0].append(line)
    return [("\n".join(cmd), exp) for cmd, exp in out if any(c.strip() for c in cmd) or exp]


def run_bash(scripts: list[str], home: Path) -> None:
    port = str(free_port())
    parts = [chunk for s in scripts for chunk in chunks(s.replace("8787", port))]
    script = ["set -u", "trap 'kill $(jobs -p) 2>/dev/null; wait' EXIT"]
    for i, (cmd, _) in enumerate(parts):
        script += [f"echo '@@chunk {i}'", cmd, "echo"]
    environ = env() | {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                       "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    proc = subprocess.Popen(["bash", "-c", "\n".join(script)], cwd=home, env=environ, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever the script left behind
            os.killpg(proc.pid, signal.SIGKILL)
    outputs = re.split(r"^@@chunk \d+\n", stdout, flags=re.M)[1:]
    assert len(outputs) == len(parts), stderr
    for (cmd, expected), output in zip(parts, outputs, strict=True):
        for text in expected:
            assert text in output, f"{cmd}\n-> expected {text!r} in:\n{output}\n{stderr[-2000:]}"


def test_http_md_curl_walkthrough(tmp_path):
    run_bash(blocks((ROOT / "docs/http.md").read_text(), "bash"), tmp_path)


def test_readme_any_language_section(tmp_path, readme):
    section = readme("## Any language, over HTTP")
    run_bash(blocks(section, "bash"), tmp_path)


def test_http_md_python_client(tmp_path):
    token_file = tmp_path / ".config" / "agent-coherence" / "serve-token"
    with serve(f"sqlite:///{tmp_path}/state.db", tmp_path, token_file=token_file) as srv:
        for code in blocks((ROOT / "docs/http.md").read_text(), "python"):
            environ = env() | {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
            out = subprocess.run([sys.executable, "-c", code.replace("8787", str(srv.port))],
                                 env=environ, cwd=tmp_path, capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, out.stderr
            expected = [m.group(1).rstrip() for ln in code.splitlines() if (m := PY_EXPECT.match(ln))]
            assert out.stdout.splitlines() == expected


def test_every_code_block_of_http_md_is_run():
    langs = {m.group(1).strip() for m in FENCE.finditer((ROOT / "docs/http.md").read_text())}
    assert langs <= {"bash", "python"}, langs


@pytest.fixture(scope="module")
def memory_server(tmp_path_factory):
    with serve("memory://", tmp_path_factory.mktemp("openapi")) as srv:
        yield srv


def test_openapi_describes_every_route(memory_server, tmp_path):
    from ccs.server.app import create_app
    from ccs.server.auth import Tokens
    from ccs.server.config import ServeConfig

    srv = memory_server
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.request("GET", "/openapi.json", headers={"Authorization": f"Bearer {srv.token}"})
    resp = conn.getresponse()
    spec = json.loads(resp.read())
    conn.close()
    assert resp.status == 200 and spec["openapi"].startswith("3.")
    app = create_app(ServeConfig(engine="memory://"), Tokens("a-token-for-this-test-only"))
    served = {(r.path, m.lower()) for r in app.routes for m in r.methods if m != "HEAD"}
    described = {(p, m) for p, ops in spec["paths"].items() for m in ops}
    assert served == described, served ^ described
    for path, method in served:
        op = spec["paths"][path][method]
        assert op["summary"] and op["operationId"], (path, method)
    write = spec["paths"]["/v1/write"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(write["required"]) == {"agent", "artifact", "content"}
    assert write["additionalProperties"] is False
