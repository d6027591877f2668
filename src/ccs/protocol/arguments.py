"""Checks of plain arguments (counts, durations, versions), pure.

Python would accept ``retries='8'`` or ``ttl='5'`` until something deep inside compared a string
with a number; a caller gets an ``InvalidArgument`` naming the parameter instead, before anything
is touched. ``bool`` is refused where a number is expected (``True`` is an ``int`` to Python).
"""

from __future__ import annotations

import math

from ccs.protocol.errors import InvalidArgument


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an integer, got {_show(value)}", parameter=name)
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{name} must be >= {minimum}, got {value}", parameter=name)
    return value


def check_number(name: str, value: object, *, minimum: float | None = None,
                 positive: bool = False) -> float:
    """A finite int or float; ``positive`` requires > 0, ``minimum`` requires >= minimum."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a number, got {_show(value)}", parameter=name)
    if not math.isfinite(value):
        raise InvalidArgument(f"{name} must be finite, got {value}", parameter=name)
    if positive and value <= 0:
        raise InvalidArgument(f"{name} must be > 0, got {value}", parameter=name)
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{name} must be >= {minimum}, got {value}", parameter=name)
    return float(value)


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be True or False, got {_show(value)}", parameter=name)
    return value


def _show(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"
