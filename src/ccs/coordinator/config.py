from __future__ import annotations

from dataclasses import dataclass

from ccs.protocol.arguments import check_bool, check_int, check_number


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
        check_bool("enabled", self.enabled)
        check_number("heartbeat_ttl", self.heartbeat_ttl, positive=True)
        check_number("sweep_interval", self.sweep_interval, minimum=0)
        check_bool("auto_heartbeat", self.auto_heartbeat)


@dataclass(frozen=True)
class Limits:
    """``max_content_bytes`` caps one artifact's content; ``retain_versions`` older versions are
    kept readable (for diffs and audits) before their blobs become collectable. The audit log
    keeps, per artifact, the entries of its latest ``audit_retain`` versions (commits, and the
    refusals and reclaims at those versions), trimmed in batches of ``audit_retain // 16``
    versions; 0 keeps no audit log at all."""

    max_content_bytes: int = 16 * 1024 * 1024
    retain_versions: int = 8
    audit_retain: int = 1000

    def __post_init__(self) -> None:
        check_int("max_content_bytes", self.max_content_bytes, minimum=1)
        check_int("retain_versions", self.retain_versions, minimum=0)
        check_int("audit_retain", self.audit_retain, minimum=0)
