"""A real ``ccs serve`` process for the HTTP tests: started on 127.0.0.1 with port 0, its
announced address read from stdout, and always killed (SIGTERM, then SIGKILL) on exit."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    url: str
    port: int
    token: str
    token_file: Path
    proc: subprocess.Popen

    def alive(self) -> bool:
        return self.proc.poll() is None


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + out.get("PYTHONPATH", "")
    return out


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def serve(engine: str, tmp: Path, *args: str, token_file: Path | None = None,
          startup: float = 30.0) -> Iterator[Server]:
    token_file = token_file or tmp / "token"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ccs.cli.main", "serve", "--engine", engine, "--port", "0", "--json",
         "--token-file", str(token_file), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(), text=True)
    try:
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(startup)
        if not line or not line[0]:
            stop(proc)
            raise RuntimeError(f"ccs serve did not start: {proc.stderr.read()}")
        info = json.loads(line[0])
        yield Server(info["url"], info["port"], token_file.read_text().strip(), token_file, proc)
    finally:
        stop(proc)
