"""Progress for long runs: one line on stderr at most every ``every`` seconds (none when quiet)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, prog: str, every: float = 2.0, quiet: bool = False, stream=None) -> None:
        self.prog, self.every, self.quiet = prog, every, quiet
        self.stream = stream if stream is not None else sys.stderr
        self._next = time.monotonic() + every

    def __call__(self, message: str) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.every
            print(f"{self.prog}: {message}", file=self.stream, flush=True)
