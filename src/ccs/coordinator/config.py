from __future__ import annotations

from dataclasses import dataclass

from ccs.protocol.errors import InvalidRequest


@dataclass(frozen=True)
class CrashRecoveryConfig:
    """Heartbeats and the sweep that reclaims grants of agents whose heartbeats stopped.

    On by default. An agent is presumed dead ``heartbeat_ttl`` seconds after its last heartbeat
    (every operation that takes a grant is one); the sweep runs at most every ``sweep_interval``
    seconds, piggybacked on coordinator operations, and can be called directly. With
    ``auto_heartbeat`` (and the system clock) each process heartbeats its grant-holding agents
    every ``heartbeat_ttl / 3`` seconds from a daemon thread, so only a process that died, froze
    or lost the store is presumed dead, not an agent that is merely thinking.
    """

    enabled: bool = True
    heartbeat_ttl: float = 30.0
    sweep_interval: float = 5.0
    auto_heartbeat: bool = True

    def __post_init__(self) -> None:
        if self.heartbeat_ttl <= 0 or self.sweep_interval < 0:
            raise InvalidRequest(
                f"heartbeat_ttl must be > 0 and sweep_interval >= 0 (got {self.heartbeat_ttl},"
                f" {self.sweep_interval})")


@dataclass(frozen=True)
class Limits:
    """``max_content_bytes`` caps one artifact's content; ``retain_versions`` older versions are
    kept readable (for diffs and audits) before their blobs become collectable."""

    max_content_bytes: int = 16 * 1024 * 1024
    retain_versions: int = 8

    def __post_init__(self) -> None:
        if self.max_content_bytes <= 0 or self.retain_versions < 0:
            raise InvalidRequest("max_content_bytes must be > 0 and retain_versions >= 0")
