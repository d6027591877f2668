"""Type checks of ``CoherentVolume``'s arguments: a wrong type is refused with ``InvalidArgument``
before anything is opened, never taken for something else (``lock_timeout='5'``,
``crash_recovery=False`` read as "the default, on", ``durable='no'`` read as true)."""

from __future__ import annotations

import codecs
import math
import os
from typing import Any

from ccs.coordinator import CrashRecoveryConfig, Limits
from ccs.protocol.errors import InvalidArgument, InvalidRequest


def _refuse(name: str, value: Any, want: str) -> InvalidArgument:
    return InvalidArgument(f"CoherentVolume({name}=...) must be {want}, got {value!r:.80}",
                           parameter=name, recover=f"pass {name}= as {want}; nothing was opened")


def _number(name: str, value: Any, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0 or (positive and value == 0):
        raise _refuse(name, value, f"a finite number of seconds {'> 0' if positive else '>= 0'}")


def check_options(root: Any, *, engine: Any, agent: Any, encoding: Any, durable: Any,
                  lock_timeout: Any, strategy: Any, crash_recovery: Any, limits: Any,
                  on_stale_write: Any, on_stale_read: Any) -> str:
    """Refuse arguments of the wrong type or value; returns the root as a ``str``."""
    if on_stale_write not in ("refuse", "allow"):
        raise InvalidRequest(f"on_stale_write must be 'refuse' or 'allow', not {on_stale_write!r:.80}")
    if on_stale_read not in ("adopt", "raise"):
        raise InvalidRequest(f"on_stale_read must be 'adopt' or 'raise', not {on_stale_read!r:.80}")
    if not isinstance(root, str | os.PathLike) or not isinstance(os.fspath(root), str) \
            or "\x00" in os.fspath(root):
        raise _refuse("root", root, "a directory path (str or os.PathLike of str)")
    root_s = os.fspath(root)
    if not os.path.isdir(root_s):
        raise InvalidRequest(f"volume root {root_s!r} is not a directory", path=root_s)
    if engine is not None and not isinstance(engine, str):
        raise _refuse("engine", engine, "an engine URL (str) or None")
    if agent is not None and (not isinstance(agent, str) or not agent):
        raise _refuse("agent", agent, "a non-empty agent name (str) or None")
    if encoding is not None:
        if not isinstance(encoding, str):
            raise _refuse("encoding", encoding, "a text encoding name (str) or None for bytes")
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise _refuse("encoding", encoding, "a known text encoding (e.g. 'utf-8')") from None
    if not isinstance(durable, bool):
        raise _refuse("durable", durable, "True or False")
    _number("lock_timeout", lock_timeout)
    if not isinstance(strategy, str):
        raise _refuse("strategy", strategy, "a strategy name (str)")
    if crash_recovery is not None and not isinstance(crash_recovery, CrashRecoveryConfig):
        raise _refuse("crash_recovery", crash_recovery,
                      "a CrashRecoveryConfig (CrashRecoveryConfig(enabled=False) opts out) or None")
    if limits is not None and not isinstance(limits, Limits):
        raise _refuse("limits", limits, "a Limits or None")
    return root_s
