"""What each view scope has read: the versions a later ``put`` from that scope is checked against.

Graph scopes (one per node invocation, see ``identity.py``) live in a bounded table: a scope
unused for ``limit`` newer scopes is dropped, and a put from it afterwards counts as blind. The
default limit (16384 scopes) is far above the number of node invocations in flight at once.
Outside a graph each handle (the store, or a ``for_agent`` handle) keeps its own session.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Seen:
    """One scope's view of one item: the version, and the item's creation stamp at that version
    (None when it was absent or expired). ``stored`` says the version had content at all."""

    version: int
    created_ns: int | None
    stored: bool


class ScopeTable:
    def __init__(self, limit: int = 16384) -> None:
        if limit < 1:
            raise ValueError("scope limit must be >= 1")
        self.limit = limit
        self._scopes: OrderedDict[tuple[str, str], dict[str, Seen]] = OrderedDict()
        self._lock = threading.Lock()

    def views(self, agent: str, scope: str) -> dict[str, Seen]:
        key = (agent, scope)
        views = self._scopes.get(key)
        if views is not None:
            return views
        with self._lock:
            views = self._scopes.get(key)
            if views is None:
                views = self._scopes[key] = {}
                while len(self._scopes) > self.limit:
                    self._scopes.popitem(last=False)
            return views

    def __len__(self) -> int:
        return len(self._scopes)


class Session:
    """Views of one handle outside any graph, per agent name."""

    def __init__(self) -> None:
        self._views: dict[str, dict[str, Seen]] = {}

    def views(self, agent: str) -> dict[str, Seen]:
        views = self._views.get(agent)
        if views is None:
            views = self._views.setdefault(agent, {})
        return views
