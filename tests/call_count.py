"""Count the Python function calls an operation makes (``sys.setprofile``): the call-count caps
of the hot paths, which fail when a change adds work to them (no timing in tests)."""

from __future__ import annotations

import sys
from collections.abc import Callable


def calls_made(fn: Callable[[], object], where: Callable[[str], bool] | None = None) -> list[str]:
    """``file:function`` of every Python call ``fn()`` made, those whose file ``where`` accepts."""
    seen: list[str] = []

    def profile(frame, event, _arg):
        if event == "call":
            path = frame.f_code.co_filename.replace("\\", "/")
            if where is None or where(path):
                seen.append(f"{path.rsplit('/', 1)[-1]}:{frame.f_code.co_name}")

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return seen


def python_calls(fn: Callable[[], object]) -> int:
    return len(calls_made(fn))
