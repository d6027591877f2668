"""Run callables on real threads and surface the first exception any of them raised."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable


def run_threads(targets: Iterable[Callable[[], object]], join: float = 20.0) -> None:
    """Each target on its own thread; every join is bounded, so a bug fails instead of hanging."""
    errors: list[BaseException] = []

    def guard(fn: Callable[[], object]) -> None:
        try:
            fn()
        except BaseException as exc:  # surfaced in the calling thread below
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(fn,)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(join)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
