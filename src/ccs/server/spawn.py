"""Start a real ``ccs serve`` process from Python and stop it again: for scripts that embed the
service (a benchmark, a test, a local tool that needs an HTTP endpoint for a while).

    from ccs.server.spawn import spawned

    with spawned("sqlite:////tmp/demo.db", token_file=Path("/tmp/demo-token")) as server:
        HttpClient(server.url, token=server.token, agent="planner").write("plan", "v1")

The process listens on 127.0.0.1 on a free port (``--port 0``) and announces its address, which
``start`` waits for; it runs the ``ccs`` package this process imported. Its stderr is collected
(``Server.stderr()``) so a chatty server never blocks on a full pipe. ``spawned`` stops it on
exit: SIGTERM, then SIGKILL if it has not exited within five seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import ccs
from ccs.protocol.errors import BackendUnavailable

STDERR_LIMIT = 1 << 20  # bytes of stderr kept (the latest)


@dataclass
class Server:
    url: str
    port: int
    token: str
    token_file: Path
    proc: subprocess.Popen
    _err: list[str] = field(default_factory=list, repr=False)
    _drainer: threading.Thread | None = field(default=None, repr=False)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        """What the process wrote to stderr so far (the latest MiB); all of it after ``stop()``."""
        return "".join(self._err)

    def stop(self) -> None:
        stop(self.proc)
        if self._drainer is not None:
            self._drainer.join(5)  # the pipe's end: everything it wrote is in stderr() now


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with this ``ccs`` first on PYTHONPATH."""
    out = dict(os.environ if env is None else env)
    src = str(Path(ccs.__file__).resolve().parent.parent)
    out["PYTHONPATH"] = src + (os.pathsep + out["PYTHONPATH"] if out.get("PYTHONPATH") else "")
    return out


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _drain(stream, into: list[str]) -> None:
    size = 0
    for line in stream:
        into.append(line)
        size += len(line)
        while size > STDERR_LIMIT and len(into) > 1:
            size -= len(into.pop(0))


def start(engine: str, *args: str, token_file: Path | None = None,
          env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
          startup: float = 30.0) -> Server:
    """A running ``ccs serve --engine ENGINE --port 0 --json [ARGS...]``; stop it with
    ``Server.stop()``. ``BackendUnavailable`` (with its stderr) if it did not announce itself
    within ``startup`` seconds."""
    extra = () if token_file is None else ("--token-file", str(token_file))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccs.cli.main", "serve", "--engine", engine, "--port", "0", "--json",
         *extra, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(env),
        cwd=cwd, text=True)
    err: list[str] = []
    drainer = threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)
    drainer.start()
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(startup)
    if not line or not line[0]:
        stop(proc)
        drainer.join(5)
        raise BackendUnavailable(f"ccs serve did not start (exit {proc.returncode}): "
                                 f"{''.join(err)[-2000:]}", recover="read the error above")
    info = json.loads(line[0])
    path = Path(info["token_file"])
    return Server(info["url"], info["port"], path.read_text().strip(), path, proc, err, drainer)


@contextlib.contextmanager
def spawned(engine: str, *args: str, token_file: Path | None = None,
            env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
            startup: float = 30.0) -> Iterator[Server]:
    """``start``, stopped on exit whatever happens."""
    server = start(engine, *args, token_file=token_file, env=env, cwd=cwd, startup=startup)
    try:
        yield server
    finally:
        server.stop()
