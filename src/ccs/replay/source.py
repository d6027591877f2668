"""Where a replayed history comes from: one normalized ``Event`` per store operation.

The invariant checks (``invariants.py``) and the diagnosis (``ccs.diagnose``) read ``Event``s
only, never a file format. A source turns a file into events:

* ``record_to``: the JSON lines ``CCSStore.record_to(path)`` appends (``adapters/langgraph/
  recorder.py``), and the same format written by ``RecordingStore`` around any LangGraph store;
* ``audit``: the log every engine keeps (``audit_source.py``), read from an engine URL.

Malformed input raises ``MalformedHistory`` naming the file and line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ccs.protocol.errors import InvalidRequest

READS = frozenset({"get"})
WRITES = frozenset({"put", "delete", "update"})
OPS = READS | WRITES | {"search", "list_namespaces"}
OUTCOMES = frozenset({"hit", "miss", "absent", "ok", "noop", "conflict", "error"})


class MalformedHistory(InvalidRequest):
    """A history file that cannot be read as one: exit 2 from ``ccs replay``."""

    code = "malformed_history"
    default_recover = "pass a file written by CCSStore.record_to(path) (one JSON object per line)"


@dataclass
class Event:
    """One store operation, whatever recorded it.

    ``seen`` is the version the caller's view held before the operation (None: never read, a blind
    write); ``version`` the version served (reads) or written (writes); ``outcome`` one of
    ``OUTCOMES``; ``error`` the refusal's code. ``items`` (search): ``[(artifact, version)]`` read.
    ``line`` is where it came from (1-based), for messages. ``step`` (``RecordingStore`` only): the
    graph run and superstep of the caller's task; callers of one step ran in parallel. ``thread``:
    the thread that ran the operation (its lines are in the order its operations ran).
    """

    line: int
    t: float
    agent: str
    scope: str | None
    op: str
    artifact: str | None
    seen: int | None
    version: int | None
    outcome: str
    error: str | None = None
    namespace: tuple[str, ...] | None = None
    key: str | None = None
    items: list[tuple[str, int]] = field(default_factory=list)
    step: str | None = None
    thread: str | None = None

    @property
    def caller(self) -> tuple[str, str | None]:
        return self.agent, self.scope

    @property
    def sequence(self) -> tuple | None:
        """What this event's operation ran in sequence with: its thread if the log says (every
        earlier line of that thread ran before it), else its graph task (a node calls the store
        sequentially); None for a caller outside a graph in an older log: it may be many threads."""
        if self.thread is not None:
            return ("thread", self.thread)
        if self.scope is not None:
            return ("scope", self.agent, self.scope)
        return None

    @property
    def is_write(self) -> bool:
        return self.op in WRITES and self.outcome == "ok"

    @property
    def may_be_noop(self) -> bool:
        """A blind delete logs the current version when the item was already absent: no new version."""
        return self.op in ("delete", "update") and self.seen is None

    @property
    def label(self) -> str:
        where = self.artifact if self.key is None else f"{'/'.join(self.namespace or ())}/{self.key}"
        seen = "" if self.op not in WRITES else f" seen={self.seen}"
        return (f"line {self.line}: {self.agent} {self.op} {where}{seen} -> "
                f"v{self.version} {self.outcome}{f' [{self.error}]' if self.error else ''}")

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "t": self.t, "agent": self.agent, "scope": self.scope, "op": self.op,
                "artifact": self.artifact,
                "namespace": None if self.namespace is None else list(self.namespace),
                "key": self.key, "seen": self.seen, "version": self.version, "outcome": self.outcome,
                "error": self.error}


def _int_or_none(rec: dict, name: str, where: str) -> int | None:
    value = rec.get(name)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    raise MalformedHistory(f"{where}: {name!r} must be a version (an integer >= 0) or null, got {value!r}")


def event_from_record(rec: Any, line: int, where: str) -> Event:
    """One ``record_to`` line (already parsed) as an event; ``where`` names it in errors."""
    if not isinstance(rec, dict):
        raise MalformedHistory(f"{where}: expected a JSON object, got {type(rec).__name__}")
    missing = [k for k in ("t", "agent", "op", "outcome") if k not in rec]
    if missing:
        raise MalformedHistory(f"{where}: not a record_to line (missing {', '.join(missing)})")
    op, outcome, t = rec["op"], rec["outcome"], rec["t"]
    if op not in OPS:
        raise MalformedHistory(f"{where}: unknown op {op!r} (known: {', '.join(sorted(OPS))})")
    if outcome not in OUTCOMES:
        raise MalformedHistory(f"{where}: unknown outcome {outcome!r}")
    if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t):
        raise MalformedHistory(f"{where}: 't' must be a finite number, got {t!r}")
    artifact = rec.get("artifact")
    if op in READS | WRITES and not isinstance(artifact, str):
        raise MalformedHistory(f"{where}: {op} without an artifact")
    err = rec.get("error")
    code = err.get("code") if isinstance(err, dict) else (err if isinstance(err, str) else None)
    raw_items = rec.get("items") or []
    if not isinstance(raw_items, list):
        raise MalformedHistory(f"{where}: 'items' must be a list of [artifact, version] pairs")
    items = []
    for item in raw_items:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], int) and not isinstance(item[1], bool) and item[1] >= 0):
            raise MalformedHistory(f"{where}: search items must be [artifact, version] pairs, got {item!r}")
        items.append((item[0], item[1]))
    ns = rec.get("namespace")
    if ns is not None and not isinstance(ns, list):
        raise MalformedHistory(f"{where}: 'namespace' must be a list of labels or null, got {ns!r}")
    if artifact is not None and not isinstance(artifact, str):
        raise MalformedHistory(f"{where}: 'artifact' must be a string or null, got {artifact!r}")
    return Event(line=line, t=float(t), agent=str(rec["agent"]), scope=rec.get("scope"), op=op,
                 artifact=artifact, seen=_int_or_none(rec, "seen", where),
                 version=_int_or_none(rec, "version", where), outcome=outcome, error=code,
                 namespace=None if ns is None else tuple(str(x) for x in ns),
                 key=None if rec.get("key") is None else str(rec["key"]), items=items,
                 step=None if rec.get("step") is None else str(rec["step"]),
                 thread=None if rec.get("thread") is None else str(rec["thread"]))


def read_record_to(path: str | os.PathLike[str], progress: Callable[[int], None] | None = None
                   ) -> Iterator[Event]:
    """The events of a ``record_to`` file. A torn last line (the writer was killed mid-write) is
    skipped; any other malformed line is an error naming it."""
    name = os.fspath(path)
    try:
        f = open(name, encoding="utf-8")  # noqa: SIM115 - closed below
    except IsADirectoryError:
        raise MalformedHistory(f"{name}: is a directory, not a history file", path=name) from None
    with f:
        pending: tuple[int, str] | None = None
        try:
            for n, text in enumerate(f, 1):
                if pending is not None:
                    yield _parse(name, *pending)
                    pending = None
                if progress is not None:
                    progress(n)
                if not text.strip():
                    continue
                if not text.endswith("\n"):
                    pending = (n, text)  # the last line: torn if it does not parse
                    continue
                yield _parse(name, n, text)
        except UnicodeDecodeError as exc:
            raise MalformedHistory(f"{name}: not UTF-8 text ({exc.reason})", path=name) from None
        if pending is not None:
            try:
                yield _parse(name, *pending)
            except MalformedHistory:
                return


def _parse(name: str, n: int, text: str) -> Event:
    where = f"{name}:{n}"
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedHistory(f"{where}: not JSON ({exc.msg}): {text.strip()[:60]!r}",
                               path=name, line=n) from None
    except RecursionError:
        raise MalformedHistory(f"{where}: JSON nested too deeply", path=name, line=n) from None
    return event_from_record(rec, n, where)




def detect(path: str | os.PathLike[str]) -> str:
    """Which source ``path`` is: an engine URL is its audit log, anything else a file."""
    from ccs.replay.audit_source import is_engine_url

    return "audit" if is_engine_url(path) else "record_to"


def _read_audit(path: str | os.PathLike[str], progress: Callable[[int], None] | None = None
                ) -> Iterator[Event]:
    from ccs.replay.audit_source import read_audit

    return read_audit(os.fspath(path), progress=progress)


# A source name -> reader.
SOURCES: dict[str, Callable[..., Iterator[Event]]] = {"record_to": read_record_to, "audit": _read_audit}


def load(path: str | os.PathLike[str], source: str | None = None,
         progress: Callable[[int], None] | None = None) -> list[Event]:
    source = source or detect(path)
    try:
        reader = SOURCES[source]
    except KeyError:
        raise MalformedHistory(f"unknown history source {source!r} (known: {', '.join(SOURCES)})") from None
    return list(reader(path, progress=progress))
