"""The adaptive strategy: per artifact, from what one agent observes.

A core runs one :class:`~ccs.client.strategies.Strategy` for every artifact, so a per-artifact
choice cannot be a plain strategy; this policy sits on a ``lazy`` core and decides, per read,
whether the cached copy may be served (``cache``) or must be revalidated with the store
(``validate``: one round trip, content moves only if the version changed).

* read-mostly, large artifacts -> ``cache``: hits cost no round trip and no content;
* artifacts that change between most of this agent's reads, or small ones -> ``validate``: the
  cache would miss anyway, and revalidating bounds staleness to zero even when invalidations
  are lost or delayed (lazy would keep serving a copy it was never told is stale).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class AdaptivePolicy:
    change_ratio: float = 0.5  # changes seen per read above which an artifact is revalidated
    small_tokens: int = 64  # artifacts at most this big are always revalidated
    reads: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    last_seen: dict[str, int] = field(default_factory=dict)
    choices: Counter[str] = field(default_factory=Counter)

    def mode(self, artifact: str, size_tokens: int) -> str:
        reads = self.reads[artifact]
        if size_tokens <= self.small_tokens:
            choice = "validate"
        elif reads == 0:
            choice = "cache"
        else:
            choice = "validate" if self.changes[artifact] / reads >= self.change_ratio else "cache"
        self.choices[choice] += 1
        return choice

    def observe_read(self, artifact: str, version: int) -> None:
        last = self.last_seen.get(artifact)
        if last is not None and version > last:
            self.changes[artifact] += version - last
        self.reads[artifact] += 1
        self.last_seen[artifact] = version

    def observe_write(self, artifact: str, version: int) -> None:
        self.last_seen[artifact] = version
