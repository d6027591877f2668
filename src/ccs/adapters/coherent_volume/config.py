"""What every volume on one root must agree on, recorded in the shared state itself."""

from __future__ import annotations

import os
import socket
import threading

from ccs.adapters.coherent_volume.paths import STATE_DIR
from ccs.client.agent import Agent
from ccs.protocol.errors import ConfigurationMismatch, VersionConflict

CONFIG_ID = STATE_DIR + "/volume"  # unreachable through a path: .ccs/ is refused
FORMAT = 1
_names_lock = threading.Lock()
_names_used: dict[str, int] = {}


def default_agent() -> str:
    """``host:pid``; a second volume in the same process gets ``host:pid#1`` and so on, so two
    volumes never share a view."""
    base = f"{socket.gethostname()}:{os.getpid()}"
    with _names_lock:
        n = _names_used.get(base, 0)
        _names_used[base] = n + 1
    return base if n == 0 else f"{base}#{n}"


def check_config(agent: Agent, root: str, managed: tuple[str, ...] | None,
                 attempts: int = 50) -> tuple[str, ...]:
    """Record ``managed`` on first use of the state; refuse a volume that asks for other globs.
    ``managed=None`` takes whatever the state recorded (``("**",)`` for a new state). Returns
    the globs in force."""
    for _ in range(attempts):
        current = agent.read_with_version(CONFIG_ID, None)
        if current.value is not None:
            stored = current.value.get("managed") if isinstance(current.value, dict) else None
            if managed is None and isinstance(stored, list) and stored:
                return tuple(stored)
            if stored != list(managed or ()):
                raise ConfigurationMismatch(
                    f"the volume at {root} was created with managed={stored}; this one asks for "
                    f"managed={list(managed or ())}", artifact=CONFIG_ID,
                    current_version=current.version, stored_managed=stored,
                    requested_managed=list(managed or ()),
                    recover=f"open the volume with managed={tuple(stored or ())!r} (or managed=None)")
            return managed
        want = managed or ("**",)
        try:
            agent.commit_cas(CONFIG_ID, current.version, {"format": FORMAT, "managed": list(want)})
            return want
        except VersionConflict:
            continue
    raise ConfigurationMismatch("could not record the volume configuration", artifact=CONFIG_ID)
