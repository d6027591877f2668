"""How the adapter calls the agent API from the event loop.

A ccs ``Agent`` is one cache; the SDK may run several tool calls of one agent concurrently, and
each engine call (SQLite, PostgreSQL) can block. So every call on one ccs agent runs in a worker
thread (``asyncio.to_thread``) under that agent's lock: the loop never blocks on the engine, and
an older fetch never overwrites a newer commit in the agent's cache. Critical sections hold one
agent-API call or one short sequence of them, never model or user code.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ccs.client.agent import Agent

T = TypeVar("T")

def lock_of(agent: Agent) -> threading.RLock:
    return agent.lock


def locked(agent: Agent, fn: Callable[..., T], *args: Any) -> T:
    with lock_of(agent):
        return fn(*args)


async def offload(agent: Agent, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` under ``agent``'s lock, in a worker thread."""
    return await asyncio.to_thread(locked, agent, fn, *args)
