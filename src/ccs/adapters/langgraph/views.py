"""What each view scope has read: the versions a later ``put`` from that scope is checked against.

Graph scopes (one per node invocation, see ``identity.py``) live in a bounded table: a scope
unused for ``limit`` newer scopes is dropped, and a put from it afterwards counts as blind. The
default limit (16384 scopes) is far above the number of node invocations in flight at once.
Outside a graph the views are kept per agent name (one ``Session`` per store).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple


class Seen(NamedTuple):
    """One scope's view of one item: the version, and the item's creation stamp at that version
    (None when it was absent or expired). ``stored`` says the version had content at all."""

    version: int
    created_ns: int | None
    stored: bool


class ScopeTable:
    """Caller records (``ops.Call``: agent, scope, views) of graph scopes, least recent dropped."""

    def __init__(self, limit: int = 16384) -> None:
        if limit < 1:
            raise ValueError("scope limit must be >= 1")
        self.limit = limit
        self._scopes: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self._lock = threading.Lock()

    def call(self, agent: str, scope: str, make: Callable[[str, str | None], Any]) -> Any:
        key = (agent, scope)
        call = self._scopes.get(key)
        if call is not None:
            return call
        with self._lock:
            call = self._scopes.get(key)
            if call is None:
                call = self._scopes[key] = make(agent, scope)
                while len(self._scopes) > self.limit:
                    self._scopes.popitem(last=False)
            return call

    def __len__(self) -> int:
        return len(self._scopes)


class Session:
    """Caller records outside any graph, per agent name."""

    def __init__(self) -> None:
        self._calls: dict[str, Any] = {}
        self._lock = threading.Lock()

    def call(self, agent: str, make: Callable[[str, str | None], Any]) -> Any:
        call = self._calls.get(agent)
        if call is None:
            with self._lock:
                call = self._calls.get(agent)
                if call is None:
                    call = self._calls[agent] = make(agent, None)
        return call
