"""What each view scope has read: the versions a later ``put`` from that scope is checked against.

A put of an item the scope has read is checked against the version read; a put of an item it
never read is blind. So a scope's views must not be forgotten while the scope can still write: a
forgotten read would turn a checked write into a blind one. Graph scopes (``identity.py``):

* **Pinned to their tasks.** Every task that uses a scope holds it while the task lives (the
  anchor is LangGraph's per-task write buffer). A node invocation or ``Send`` task uses its own
  scope, so its views live exactly as long as it does, however long it thinks and however many
  other tasks run meanwhile, and are released when it is finished.
* **A subgraph's scope** (the outer task's, shared by its inner nodes) is held by each inner task
  using it and, between them, by the table: the ``limit`` most recently used such scopes. A
  dropped scope cannot be told from a new one by its name, so the table keeps the newest *birth*
  (when the outer step began: its checkpoint id) of the dropped scopes that had read something.
  A scope created again whose birth is not later is *expired*: its puts and deletes of items it
  has not read since raise ``ViewExpired``, never a blind write. (A new scope is taken for an
  expired one only if over ``limit`` subgraph scopes born after it were dropped before its first
  store call; the refusal is spurious then, and nothing is lost.)
* Without an anchor or a birth in the task config (another LangGraph), every scope is handled
  like a subgraph's, and one of unknown birth is expired once any scope was dropped.

Outside a graph the views are kept per agent name (one ``Session`` per store) and never dropped.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from ccs.adapters.langgraph.identity import GraphTask, task_anchor, task_birth

Key = tuple[str, str]


class Seen(NamedTuple):
    """One scope's view of one item: the version, and the item's creation stamp at that version
    (None when it was absent or expired). ``stored`` says the version had content at all."""

    version: int
    created_ns: int | None
    stored: bool


class _Holder:
    """The scopes one task has used; dropped when the task's anchor is collected."""

    __slots__ = ("__weakref__", "calls")

    def __init__(self) -> None:
        self.calls: list[Any] = []


@dataclass(slots=True)
class _Slot:
    ref: weakref.ref
    birth: int | None
    bound: bool  # pinned by its own task: once collected, that task is over and so is the scope
    views: dict


class ScopeTable:
    """Caller records (``ops.Call``: agent, scope, views, expired) of graph scopes."""

    def __init__(self, limit: int = 16384) -> None:
        if limit < 1:
            raise ValueError("scope limit must be >= 1")
        self.limit = limit
        self._slots: dict[Key, _Slot] = {}
        self._recent: OrderedDict[Key, Any] = OrderedDict()  # unbound scopes, least recent first
        self._holders: dict[int, _Holder] = {}  # id(anchor) -> holder, removed when it dies
        self._dead: deque[tuple[Key, weakref.ref]] = deque()
        self._dropped_birth = -1  # newest birth of a dropped unbound scope that had views
        self._dropped_unknown = False  # such a scope had no known birth
        self._lock = threading.Lock()

    def call(self, agent: str, task: GraphTask, make: Callable[[str, str | None], Any]) -> Any:
        key = (agent, task.scope)
        anchor = task_anchor(task.configurable)
        slot = self._slots.get(key)
        call = None if slot is None else slot.ref()
        if call is not None:
            if anchor is None:
                return call
            holder = self._holders.get(id(anchor))
            pin = call.pinned_by
            if holder is not None and pin is not None and pin() is holder:
                return call  # the hot path: this task already holds it
        with self._lock:
            self._drain()
            slot = self._slots.get(key)
            call = None if slot is None else slot.ref()
            if call is None:
                if slot is not None:  # collected; its callback has not been drained yet
                    del self._slots[key]
                    self._forget(slot)
                call = self._create(key, task, make)
            if anchor is not None:
                self._pin(key, call, anchor, task.own)
            elif not self._slots[key].bound:
                self._recent[key] = call
                self._recent.move_to_end(key)
                self._trim()
            return call

    def _create(self, key: Key, task: GraphTask, make: Callable[[str, str | None], Any]) -> Any:
        birth = task_birth(task.configurable)
        call = make(key[0], key[1])
        call.expired = self._dropped_unknown or (
            self._dropped_birth >= 0 and (birth is None or birth <= self._dropped_birth))
        dead = self._dead
        ref = weakref.ref(call, lambda r, key=key: dead.append((key, r)))
        self._slots[key] = _Slot(ref, birth, False, call.views)
        return call

    def _pin(self, key: Key, call: Any, anchor: Any, own: bool) -> None:
        aid = id(anchor)
        holder = self._holders.get(aid)
        if holder is None:
            try:
                weakref.finalize(anchor, self._holders.pop, aid, None)
            except TypeError:  # not weakly referenceable: the table keeps the scope instead
                anchor = None
            else:
                holder = self._holders[aid] = _Holder()
        slot = self._slots[key]
        if holder is not None:
            if call.pinned_by is None or call.pinned_by() is not holder:
                holder.calls.append(call)
                call.pinned_by = weakref.ref(holder)
            if own:
                slot.bound = True
        if slot.bound:
            self._recent.pop(key, None)
        else:
            self._recent[key] = call
            self._recent.move_to_end(key)
            self._trim()

    def _trim(self) -> None:
        while len(self._recent) > self.limit:
            self._recent.popitem(last=False)

    def _drain(self) -> None:
        while self._dead:
            key, ref = self._dead.popleft()
            slot = self._slots.get(key)
            if slot is not None and slot.ref is ref:
                del self._slots[key]
                self._forget(slot)

    def _forget(self, slot: _Slot) -> None:
        if slot.bound or not slot.views:
            return
        if slot.birth is None:
            self._dropped_unknown = True
        elif slot.birth > self._dropped_birth:
            self._dropped_birth = slot.birth

    def __len__(self) -> int:
        with self._lock:
            self._drain()
            return len(self._slots)


class Session:
    """Caller records outside any graph, per agent name."""

    def __init__(self) -> None:
        self.calls: dict[str, Any] = {}  # read without the lock; written under it
        self._lock = threading.Lock()

    def call(self, agent: str, make: Callable[[str, str | None], Any]) -> Any:
        call = self.calls.get(agent)
        if call is None:
            with self._lock:
                call = self.calls.get(agent)
                if call is None:
                    call = self.calls[agent] = make(agent, None)
        return call
