"""A real ``ccs serve`` process for the HTTP tests: ``ccs.server.spawn`` (127.0.0.1, port 0, its
announced address read from stdout, always stopped on exit) with the token file in the test's
temporary directory."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from ccs.server.spawn import Server, child_env, spawned

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["ROOT", "Server", "env", "serve"]


def env() -> dict[str, str]:
    return child_env(os.environ)


@contextlib.contextmanager
def serve(engine: str, tmp: Path, *args: str, token_file: Path | None = None,
          environ: Mapping[str, str] | None = None, startup: float = 30.0) -> Iterator[Server]:
    with spawned(engine, *args, token_file=token_file or tmp / "token", env=environ,
                 startup=startup) as server:
        yield server
