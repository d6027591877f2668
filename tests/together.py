"""Run one function on several real threads released together by a barrier (a race on purpose)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def together(n: int, fn: Callable[[int], Any], timeout: float = 120.0) -> list[Any]:
    """``fn(i)`` for ``i`` in ``range(n)``, each on its own thread, all released at once; returns
    each call's result, or the exception it raised."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[i] = fn(i)
        except Exception as exc:  # returned to the test, which asserts on it
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=timeout)
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    return results
