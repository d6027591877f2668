"""``CoherentMemoryStorage``: a CrewAI ``StorageBackend`` over a shared ``CoherenceAdapterCore``.

Each ``MemoryRecord`` is one artifact (``<namespace>/<record id>``, JSON). Reads go through the
calling agent's cache; every write is a checked commit:

- ``update(record)`` is a compare-and-set against the version the record was read at
  (``metadata["ccs_version"]``, set on every record this storage returns): ``Memory.update`` and
  the consolidation inside ``remember`` are read-modify-writes, and one derived from a record a peer
  changed since is refused with ``StaleView``, never applied. Without that key, the check is
  against the calling agent's own view (what it last read).
- ``save`` creates: a record id that already exists is refused unless the caller's view has it.
- ``delete`` by ids is checked against the caller's view of each record; by filter, against the
  records as the filter just read them.

Vector search is a plain cosine over the stored embeddings (CrewAI passes them in), with CrewAI's
scope-prefix, category, metadata and ``min_score`` filters. ``touch_records`` is deliberately not
offered (CrewAI treats it as optional): bumping ``last_accessed`` on every recall would be a commit
that makes every other reader's copy stale.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from ccs.adapters.crewai import records as rec
from ccs.adapters.crewai.identity import resolve
from ccs.adapters.unchecked import core_for
from ccs.client import Agent, CoherenceAdapterCore
from ccs.protocol.errors import ConflictError, StaleView


def install(core: CoherenceAdapterCore | None = None, *, engine: str = "memory://",
            namespace: str = "crewai/memory") -> CoherenceAdapterCore:
    """Route every CrewAI ``Memory`` built from now on (``Crew(memory=True)`` included) through
    coherent storage in ``core`` (one is made from ``engine`` if not given). Returns the core."""
    from crewai.memory.storage.factory import set_memory_storage_factory

    core = core if core is not None else CoherenceAdapterCore(engine=engine)
    set_memory_storage_factory(lambda spec: CoherentMemoryStorage(core, namespace=namespace))
    return core


def uninstall() -> None:
    """Restore CrewAI's built-in storage selection for ``Memory`` instances built afterwards."""
    from crewai.memory.storage.factory import set_memory_storage_factory

    set_memory_storage_factory(None)


class CoherentMemoryStorage:
    """``CoherentMemoryStorage(core)``, or ``Memory(storage=CoherentMemoryStorage(core))``.

    ``agent`` pins the identity (else ``acting_as(role)``, else the ``/agent/<role>`` scope of the
    record or search, else ``default_agent``); ``for_agent(role)`` is a handle pinned to ``role``.
    """

    def __init__(self, core: CoherenceAdapterCore | None = None, *, engine: str = "memory://",
                 namespace: str = "crewai/memory", agent: str | None = None,
                 default_agent: str = "crew") -> None:
        self.core = core_for("CrewAI CoherentMemoryStorage",
                             core if core is not None else CoherenceAdapterCore(engine=engine))
        self.coherence_disabled = self.core.coherence_disabled  # CCS_DISABLE: pass-through
        self.namespace = namespace.rstrip("/")
        self.agent = agent
        self.default_agent = default_agent

    def for_agent(self, role: str) -> CoherentMemoryStorage:
        return CoherentMemoryStorage(self.core, namespace=self.namespace, agent=role,
                                     default_agent=self.default_agent)

    # --- helpers -------------------------------------------------------------------------------

    def _agent(self, scope: str | None = None) -> Agent:
        return self.core.agent(resolve(self.agent, scope, self.default_agent))

    def _aid(self, record_id: str) -> str:
        return f"{self.namespace}/{record_id}"

    def _rows(self, agent: Agent, prefix: str | None) -> list[tuple[dict[str, Any], int]]:
        """Every live record under ``prefix`` as ``agent`` sees it, with its version."""
        out = []
        for r in self.core.coordinator.artifacts(self.namespace + "/"):
            if not r.exists:
                continue
            snap = agent.snapshot(r.artifact_id, default=None)
            if snap.exists and rec.matches(snap.value, prefix):
                out.append((snap.value, snap.version))
        return out

    def _commit(self, agent: Agent, record: Any, base: int | None) -> int:
        aid, data = self._aid(record.id), rec.to_json(record)
        try:
            version = agent.write(aid, data) if base is None else agent.commit_cas(aid, base, data)
        except ConflictError as err:
            raise StaleView(
                f"memory record {record.id!r} changed since it was read (at v{base}); "
                f"nothing was written",
                artifact=aid, current_version=err.current_version, current_epoch=err.current_epoch,
                recover="get_record() or recall() it again, re-apply the change to the current "
                        "record, update() again", record_id=record.id) from err
        if isinstance(record.metadata, dict):
            record.metadata[rec.VERSION_KEY] = version  # the caller's copy is now at this version
        return version

    # --- StorageBackend ------------------------------------------------------------------------

    def save(self, records: list[Any]) -> None:
        for r in records:
            self._commit(self._agent(r.scope), r, rec.base_version(r))

    def update(self, record: Any) -> None:
        self._commit(self._agent(record.scope), record, rec.base_version(record))

    def get_record(self, record_id: str) -> Any | None:
        snap = self._agent().snapshot(self._aid(record_id), default=None)
        return rec.from_json(snap.value, snap.version) if snap.exists else None

    def search(self, query_embedding: list[float], scope_prefix: str | None = None,
               categories: list[str] | None = None, metadata_filter: dict[str, Any] | None = None,
               limit: int = 10, min_score: float = 0.0) -> list[tuple[Any, float]]:
        agent = self._agent(scope_prefix)
        scored = []
        for data, version in self._rows(agent, rec.norm_prefix(scope_prefix)):
            if not rec.matches(data, None, categories, metadata_filter):
                continue
            score = rec.cosine(query_embedding, data.get("embedding"))
            if score >= min_score:
                scored.append((score, data["created_at"], data, version))
        scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
        return [(rec.from_json(d, v), s) for s, _, d, v in scored[:max(limit, 0)]]

    def delete(self, scope_prefix: str | None = None, categories: list[str] | None = None,
               record_ids: list[str] | None = None, older_than: datetime | None = None,
               metadata_filter: dict[str, Any] | None = None) -> int:
        agent = self._agent(scope_prefix)
        if record_ids is not None:
            targets = [r for r in dict.fromkeys(record_ids) if self._checked_view(agent, r)]
            if categories or metadata_filter or older_than or scope_prefix:
                keep = {d["id"] for d, _ in self._rows(agent, rec.norm_prefix(scope_prefix))
                        if rec.matches(d, None, categories, metadata_filter, older_than)}
                targets = [t for t in targets if t in keep]
        else:
            targets = [d["id"] for d, _ in self._rows(agent, rec.norm_prefix(scope_prefix))
                       if rec.matches(d, None, categories, metadata_filter, older_than)]
        for record_id in targets:
            try:
                agent.delete(self._aid(record_id))
            except ConflictError as err:
                raise StaleView(
                    f"memory record {record_id!r} changed since it was read; not deleted "
                    f"({targets.index(record_id)} of {len(targets)} deleted before it)",
                    artifact=self._aid(record_id), current_version=err.current_version,
                    current_epoch=err.current_epoch,
                    recover="recall() the record again and decide again", record_id=record_id,
                ) from err
        return len(targets)

    def _checked_view(self, agent: Agent, record_id: str) -> bool:
        """Whether ``record_id`` exists as ``agent`` last saw it (reading it if it never did): a
        delete by id is then checked against that view, so it cannot remove a peer's newer
        version the caller never saw."""
        aid = self._aid(record_id)
        if agent.cached_version(aid) is None:
            return agent.snapshot(aid, default=None).exists
        entry = agent._lookup(aid)
        return entry is not None and entry.version > 0 and entry.content.digest is not None

    def list_records(self, scope_prefix: str | None = None, limit: int = 200,
                     offset: int = 0) -> list[Any]:
        if limit <= 0 or offset < 0:
            return []
        rows = self._rows(self._agent(scope_prefix), rec.norm_prefix(scope_prefix))
        rows.sort(key=lambda r: r[0]["created_at"], reverse=True)
        return [rec.from_json(d, v) for d, v in rows[offset:offset + limit]]

    def get_scope_info(self, scope: str) -> Any:
        from crewai.memory.types import ScopeInfo

        scope = scope.rstrip("/") or "/"
        prefix = rec.norm_prefix(scope)
        rows = [d for d, _ in self._rows(self._agent(scope), prefix)]
        child_prefix = (prefix or "") + "/"
        children = {child_prefix + d["scope"][len(child_prefix):].split("/", 1)[0] for d in rows
                    if d["scope"].startswith(child_prefix) and d["scope"][len(child_prefix):]}
        created = [datetime.fromisoformat(d["created_at"]) for d in rows]
        return ScopeInfo(path=scope, record_count=len(rows),
                         categories=sorted({c for d in rows for c in d["categories"]}),
                         oldest_record=min(created, default=None),
                         newest_record=max(created, default=None), child_scopes=sorted(children))

    def list_scopes(self, parent: str = "/") -> list[str]:
        parent = parent.rstrip("/")
        prefix = parent + "/"
        rows = self._rows(self._agent(parent), rec.norm_prefix(parent))
        return sorted({prefix + d["scope"][len(prefix):].split("/", 1)[0] for d, _ in rows
                       if d["scope"].startswith(prefix) and d["scope"][len(prefix):]})

    def list_categories(self, scope_prefix: str | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        for d, _ in self._rows(self._agent(scope_prefix), rec.norm_prefix(scope_prefix)):
            for c in d["categories"]:
                counts[c] = counts.get(c, 0) + 1
        return counts

    def count(self, scope_prefix: str | None = None) -> int:
        return len(self._rows(self._agent(scope_prefix), rec.norm_prefix(scope_prefix)))

    def reset(self, scope_prefix: str | None = None) -> None:
        self.delete(scope_prefix=scope_prefix)

    def close(self) -> None:
        """The core is shared with other agents and memories: it stays open."""

    async def asave(self, records: list[Any]) -> None:
        await asyncio.to_thread(self.save, records)

    async def asearch(self, query_embedding: list[float], scope_prefix: str | None = None,
                      categories: list[str] | None = None,
                      metadata_filter: dict[str, Any] | None = None, limit: int = 10,
                      min_score: float = 0.0) -> list[tuple[Any, float]]:
        return await asyncio.to_thread(self.search, query_embedding, scope_prefix, categories,
                                       metadata_filter, limit, min_score)

    async def adelete(self, scope_prefix: str | None = None, categories: list[str] | None = None,
                      record_ids: list[str] | None = None, older_than: datetime | None = None,
                      metadata_filter: dict[str, Any] | None = None) -> int:
        return await asyncio.to_thread(self.delete, scope_prefix, categories, record_ids,
                                       older_than, metadata_filter)
