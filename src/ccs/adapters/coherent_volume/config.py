"""What every volume on one root must agree on, recorded in the shared state itself: the managed
globs, and the id of the state (a random name given when the state was created, which the file
marks carry: see ``materialize.py``)."""

from __future__ import annotations

import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ccs.adapters.coherent_volume.paths import STATE_DIR
from ccs.client.agent import Agent
from ccs.protocol.errors import ConfigurationMismatch, CorruptState, VersionConflict

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


@dataclass(frozen=True, slots=True)
class Config:
    managed: tuple[str, ...]
    state_id: str


def check_config(agent: Agent, root: str, managed: tuple[str, ...] | None,
                 state_existed: Callable[[], bool], attempts: int = 50) -> Config:
    """Record ``managed`` on first use of the state; refuse a volume that asks for other globs.
    ``managed=None`` takes whatever the state recorded (``("**",)`` for a new state), but not
    for a state that is new although ``state_existed()`` says one was here before (lost or
    emptied): the globs it recorded are unknown, so the caller must say them."""
    for _ in range(attempts):
        current = agent.read_with_version(CONFIG_ID, None)
        value = current.value
        if value is not None:
            if not isinstance(value, dict):
                raise CorruptState(f"the volume configuration at {root} is not an object: {value!r:.80}",
                                   artifact=CONFIG_ID, current_version=current.version)
            stored = value.get("managed")
            if managed is None and isinstance(stored, list) and stored:
                managed = tuple(stored)
            if stored != list(managed or ()):
                raise ConfigurationMismatch(
                    f"the volume at {root} was created with managed={stored}; this one asks for "
                    f"managed={list(managed or ())}", artifact=CONFIG_ID,
                    current_version=current.version, stored_managed=stored,
                    requested_managed=list(managed or ()),
                    recover=f"open the volume with managed={tuple(stored or ())!r} (or managed=None)")
            state_id = value.get("state_id")
            if isinstance(state_id, str) and state_id:
                return Config(managed, state_id)
            want = {**value, "state_id": secrets.token_hex(16)}  # a state made before state ids
        else:
            if managed is None and state_existed():
                raise CorruptState(
                    f"the volume state at {root}/{STATE_DIR} is missing or empty, but its lock files "
                    "show a state existed: the managed globs it recorded are lost",
                    artifact=CONFIG_ID, reason="state lost",
                    recover="open the volume with managed= (SWG_MANAGED for the MCP server) set to "
                            "the globs this workspace used; files on disk are then adopted as new "
                            "versions when read, and none is overwritten unread")
            want = {"format": FORMAT, "managed": list(managed or ("**",)),
                    "state_id": secrets.token_hex(16)}
        try:
            agent.commit_cas(CONFIG_ID, current.version, want)
            return Config(tuple(want["managed"]), want["state_id"])
        except VersionConflict:
            continue
    raise ConfigurationMismatch("could not record the volume configuration", artifact=CONFIG_ID)
