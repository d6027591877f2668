"""The operations behind the HTTP routes, on one ``CoherenceAdapterCore`` (synchronous: the app
runs them in worker threads).

A remote agent is ``core.agent(name)`` in this server: its reads register the view its next
``write`` is checked against, as in the library. With ``CCS_DISABLE`` on (``disabled``) the agents
are ``ccs.adapters.unchecked``'s: reads always ask the engine, ``write`` and ``commit`` land blind;
what a request asked to compare explicitly (``write_cas``/``commit_cas``, a transaction's
``expected_versions``) still compares (docs/kill-switches.md). Content travels as ``content`` with an
``encoding``: ``utf-8`` (stored as text), ``base64`` (bytes) or ``json`` (a JSON value).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from ccs.adapters.unchecked import unchecked
from ccs.cli.inspect import describe, internal
from ccs.client.agent import Agent, Entry
from ccs.client.core import CoherenceAdapterCore
from ccs.protocol.errors import (
    InvalidArgument,
    InvalidIdentifier,
    InvalidValue,
    ReadOnly,
    TransactionConflict,
)
from ccs.protocol.ids import check_agent_name, check_artifact_id
from ccs.protocol.wire import content_bytes

ENCODINGS = ("utf-8", "base64", "json")
DISABLED = ("disabled (CCS_DISABLE is set on this server): write, commit and transactions without "
            "expected_versions land unchecked, last write wins; write_cas and commit_cas still "
            "compare")
ATTEMPTS = 8  # an unchecked transaction whose implicit base moved in between: taken again
HINT = ("send text with encoding 'utf-8', bytes as standard base64 with encoding 'base64', or any "
        "JSON value with encoding 'json'; nothing was written")


def check_http_artifact(artifact: Any) -> str:
    """An artifact id as the library takes it, and no '..' path segment: ids are often file paths
    (a CoherentVolume's are), and an id that climbs out of its directory is refused at the edge."""
    check_artifact_id(artifact)
    if ".." in artifact.replace("\\", "/").split("/"):
        raise InvalidIdentifier(f"artifact id {artifact[:80]!r} has a '..' segment", artifact=None,
                                recover="use an id without '..' segments; nothing was changed")
    return artifact


def value_of(content: Any, encoding: Any, artifact: str) -> Any:
    """The value a request's ``content`` stands for."""
    if encoding == "json":
        return content  # the codec refuses what would not round-trip
    if encoding not in ENCODINGS:
        raise InvalidValue(f"encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r:.40}",
                           artifact=artifact, recover=HINT)
    data = content_bytes(content, encoding, artifact, hint=HINT)
    return content if encoding == "utf-8" else data


def fields_of(kind: str, data: bytes | None, value: Any = None) -> dict[str, Any]:
    """``exists``, ``kind``, ``content`` and ``encoding`` of stored content."""
    if data is None or kind == "deleted":
        return {"exists": False, "kind": None, "content": None, "encoding": None}
    if kind == "json":
        return {"exists": True, "kind": kind, "content": json.loads(data), "encoding": "json"}
    if kind == "str":
        text = value if isinstance(value, str) else data.decode("utf-8")
        return {"exists": True, "kind": kind, "content": text, "encoding": "utf-8"}
    return {"exists": True, "kind": kind, "content": base64.b64encode(data).decode("ascii"),
            "encoding": "base64"}


def _view(artifact: str, entry: Entry) -> dict[str, Any]:
    absent = entry.version == 0 or entry.content.digest is None
    return {"artifact": artifact, "version": entry.version, "epoch": entry.epoch, "seq": entry.seq,
            **fields_of("deleted" if absent else entry.content.kind, entry.data, entry.value)}


class Service:
    def __init__(self, core: CoherenceAdapterCore, *, read_only: bool = False,
                 extra: dict[str, Any] | None = None, disabled: bool = False) -> None:
        self.core = core
        self.read_only = read_only
        self.extra = extra or {}
        self.disabled = disabled
        self._agents = unchecked(core) if disabled else core

    def _agent(self, name: Any) -> Agent:
        return self._agents.agent(check_agent_name(name))

    def refuse_if_read_only(self, op: str) -> None:
        if self.read_only:
            raise ReadOnly(f"{op} changes the store; this server is read-only", op=op)

    # --- agent operations ------------------------------------------------------------------------

    def read(self, agent: str, artifact: str, fresh: bool = False) -> dict[str, Any]:
        check_agent_name(agent)
        check_http_artifact(artifact)
        if self.read_only:  # a read registers a view: here, only look
            return self._peek(artifact)
        a = self._agent(agent)
        with a.lock:
            return _view(artifact, a.view(artifact, fresh=fresh))

    def _peek(self, artifact: str) -> dict[str, Any]:
        coordinator = self.core.coordinator
        rec = coordinator.artifact(artifact)
        if rec is None:
            return {"artifact": artifact, "version": 0, "epoch": 0, "seq": 0, **fields_of("deleted", None)}
        data = coordinator.fetch(rec.content, artifact)
        return {"artifact": artifact, "version": rec.version, "epoch": rec.epoch, "seq": rec.seq,
                **fields_of(rec.content.kind, data)}

    def reacquire(self, agent: str, artifact: str) -> dict[str, Any]:
        check_http_artifact(artifact)
        a = self._agent(agent)
        with a.lock:
            a.reacquire(artifact)
            return _view(artifact, a._lookup(artifact))

    def _change(self, agent: str, artifact: str, content: Any, encoding: str,
                apply: Callable[[Agent, Any], int]) -> dict[str, Any]:
        check_http_artifact(artifact)
        a = self._agent(agent)
        value = value_of(content, encoding, artifact)
        with a.lock:
            return {"artifact": artifact, "version": apply(a, value)}

    def write(self, agent: str, artifact: str, content: Any, encoding: str = "utf-8") -> dict[str, Any]:
        return self._change(agent, artifact, content, encoding, lambda a, v: a.write(artifact, v))

    def write_cas(self, agent: str, artifact: str, expected_version: int, content: Any,
                  encoding: str = "utf-8") -> dict[str, Any]:
        if self.disabled:  # asked for explicitly: still compares (UncheckedAgent.compare_and_set)
            return self._change(agent, artifact, content, encoding,
                                lambda a, v: a.compare_and_set(artifact, expected_version, v))
        return self._change(agent, artifact, content, encoding,
                            lambda a, v: a.commit_cas(artifact, expected_version, v))

    def commit(self, agent: str, artifact: str, content: Any, encoding: str = "utf-8") -> dict[str, Any]:
        return self._change(agent, artifact, content, encoding, lambda a, v: a.commit(artifact, v))

    def transaction(self, agent: str, writes: dict[str, Any],
                    expected_versions: dict[str, Any] | None = None) -> dict[str, Any]:
        a = self._agent(agent)
        if not writes:
            raise InvalidArgument("writes must name at least one artifact", parameter="writes")
        payloads = {}
        for artifact, item in writes.items():
            check_http_artifact(artifact)
            if item is None:
                payloads[artifact] = None  # a delete
                continue
            if not isinstance(item, dict) or "content" not in item or set(item) - {"content", "encoding"}:
                raise InvalidArgument(f"writes[{artifact!r}] must be null (delete) or "
                                      '{"content": ..., "encoding": ...}', parameter="writes")
            payloads[artifact] = value_of(item["content"], item.get("encoding", "utf-8"), artifact)
        for artifact, version in (expected_versions or {}).items():
            check_http_artifact(artifact)
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise InvalidArgument(f"expected_versions[{artifact!r}] must be a whole number >= 0",
                                      parameter="expected_versions")
        explicit = dict(expected_versions or {})
        with a.lock:
            for attempt in range(ATTEMPTS if self.disabled else 1):
                txn = a.transaction()
                txn.reads.update((aid, (version, None)) for aid, version in explicit.items())
                if self.disabled:  # no implicit base: each artifact as it is now
                    for aid in set(payloads) - set(explicit):
                        rec = self.core.coordinator.artifact(aid)
                        txn.reads[aid] = (0 if rec is None else rec.version, None)
                for artifact, value in payloads.items():
                    if value is None:
                        txn.delete(artifact)
                    else:
                        txn.write(artifact, value)
                try:
                    result = txn.commit()
                    break
                except TransactionConflict as exc:
                    moved = {c.get("artifact") for c in exc.details.get("conflicts") or ()
                             if isinstance(c, dict)}
                    if not self.disabled or moved & set(explicit) or attempt == ATTEMPTS - 1:
                        raise
        return {"versions": {aid: c.version for aid, c in result.versions.items()}}

    def heartbeat(self, agent: str) -> dict[str, Any]:
        a = self._agent(agent)
        with a.lock:
            a.heartbeat()
        return {"agent": agent}

    # --- inspection ------------------------------------------------------------------------------

    def status(self, prefix: str = "", all: bool = False) -> dict[str, Any]:
        if prefix:
            check_artifact_id(prefix)  # a prefix is refused where an id would be (a NUL, ...)
        rows = [describe(r) for r in sorted(self.core.coordinator.artifacts(prefix),
                                            key=lambda r: r.artifact_id)
                if all or not internal(r.artifact_id)]
        return {"server": {"read_only": self.read_only, "coherence": DISABLED if self.disabled else "on",
                           **self.extra}, "artifacts": rows}

    def log(self, artifact: str | None = None, limit: int | None = None,
            since: float | None = None) -> dict[str, Any]:
        if artifact is not None:
            check_http_artifact(artifact)
        entries = self.core.coordinator.audit(artifact, since=since, limit=limit)
        return {"entries": [e.to_dict() for e in entries]}
