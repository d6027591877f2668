"""The two kill switches, read from the environment (see ``docs/kill-switches.md``).

``CCS_DISABLE``: on (``1``/``true``/``yes``/``on``), every adapter built afterwards is a
pass-through to its inner store or files, with no version checks: last write wins again. Each
adapter reads it once, in its constructor (an adapter built before the switch was set stays
coherent; one built while it was set stays a pass-through until rebuilt), sets
``coherence_disabled = True`` on itself, and logs a WARNING on the ``ccs`` logger (the first
time per adapter kind in a process; later constructions log at INFO).

``CCS_TELEMETRY``: off (``0``/``false``/``no``/``off``), a coordinator built afterwards gets a
muted observer list (``ccs.observe.events.MutedObservers``): ``instrument()`` registers nothing,
an observer appended by hand is dropped, and operations cost what they cost with no observer.
Read once per coordinator, when it is built (as ``CCS_DISABLE`` is read once per adapter).

Any other non-empty value is a typo that must not silently leave a switch on or off:
``InvalidSwitch`` where the switch is read, and ``ccs status`` says so.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from ccs.protocol.errors import InvalidSwitch

DISABLE = "CCS_DISABLE"
TELEMETRY = "CCS_TELEMETRY"
_ON = frozenset(("1", "true", "yes", "on"))
_OFF = frozenset(("0", "false", "no", "off"))

AGENT_API = "the agent API (CoherenceAdapterCore)"  # what CoherenceAdapterCore's stays_on names
log = logging.getLogger("ccs")
_warned: set[str] = set()
_lock = threading.Lock()


def switch(name: str, default: bool) -> bool:
    """The boolean value of environment variable ``name`` (unset or empty: ``default``)."""
    raw = os.environ.get(name)
    value = "" if raw is None else raw.strip().lower()
    if not value:
        return default
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise InvalidSwitch(f"{name}={raw!r:.40} is neither on (1, true, yes) nor off (0, false, no)",
                        parameter=name)


def coherence_disabled(adapter: str) -> bool:
    """Read ``CCS_DISABLE`` for a constructor of ``adapter`` ("CCSStore", ...). True means: build
    the pass-through. Logs the WARNING (first time per adapter kind in this process)."""
    if not switch(DISABLE, False):
        return False
    log.log(logging.WARNING if _first(adapter) else logging.INFO,
            "CCS_DISABLE is set: %s is a pass-through with coherence OFF (no version checks, last "
            "write wins, lost updates are possible); unset CCS_DISABLE and restart to turn it back on",
            adapter)
    return True


def stays_on(what: str, why: str) -> None:
    """For what the switch does not turn off: read it anyway (a typo raises here too) and, when it
    is set, say once per process that ``what`` keeps checking writes, and ``why``."""
    if switch(DISABLE, False) and _first(what):
        log.warning("CCS_DISABLE is set: %s still checks every write (%s); the framework adapters "
                    "built with this environment are pass-throughs", what, why)


def said(what: str) -> None:
    """Count ``what``'s line as logged: for a caller that logs a more precise line of its own
    (``ccs serve`` builds a ``CoherenceAdapterCore`` but switches its agents)."""
    _first(what)


def switched(cls: type, base: type, pass_through: Callable[[], type]) -> type:
    """The class ``base.__new__`` should build for ``cls``: ``pass_through()`` when ``cls`` is
    ``base`` and ``CCS_DISABLE`` is on; a user's subclass is not switched (its overrides may rely on
    coherence), and that is said."""
    if cls is base:
        return pass_through() if coherence_disabled(base.__name__) else cls
    if not getattr(cls, "coherence_disabled", False):
        stays_on(f"{cls.__name__} (a subclass of {base.__name__})",
                 "a subclass's overrides may rely on coherence: it is not switched")
    return cls


def _first(adapter: str) -> bool:
    with _lock:
        first = adapter not in _warned
        _warned.add(adapter)
    return first


def reset_warnings() -> None:
    """Forget which adapters already warned (tests use it to see the WARNING again)."""
    with _lock:
        _warned.clear()


def telemetry_enabled() -> bool:
    """``CCS_TELEMETRY`` for ``instrument()``: ``InvalidSwitch`` on a value that is neither."""
    return switch(TELEMETRY, True)


def status_lines() -> list[str]:
    """What ``ccs status`` says about the switches in its own environment (empty: both default)."""
    lines = []
    for name, default, what, typo in (
            (DISABLE, False, "coherence is DISABLED: adapters built with this environment are "
             "pass-throughs, lost updates are possible",
             "adapters, the agent API and ccs serve refuse to start"),
            (TELEMETRY, True, "telemetry is OFF: no spans, metrics or LangSmith metadata",
             "coordinators and instrument() refuse to start")):
        try:
            if switch(name, default) != default:
                lines.append(f"{name}={os.environ[name]}: {what}")
        except InvalidSwitch as exc:
            lines.append(f"{exc.message}: {typo} ({exc.code})")
    return lines
