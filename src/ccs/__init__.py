"""agent-coherence: cache coherence for artifacts shared by LLM agents."""

from typing import TYPE_CHECKING

from ccs._lazy import lazy

_ERRORS = ["CoherenceError", "ConflictError", "GrantReclaimed", "NotOwner", "RetriesExhausted",
           "StaleEpoch", "StaleReadGeneration", "StaleView", "TransactionConflict",
           "UnknownArtifact", "VersionConflict", "ViewExpired"]
_MEMBERS = {
    **dict.fromkeys(["Agent", "CoherenceAdapterCore", "Transaction", "Versioned"], "ccs.client"),
    **dict.fromkeys(["Coordinator", "CrashRecoveryConfig", "Limits", "ManualClock"],
                    "ccs.coordinator"),
    **dict.fromkeys(_ERRORS, "ccs.protocol.errors"),
    "Mesi": "ccs.protocol.records",
}
__getattr__, __dir__ = lazy(globals(), _MEMBERS)

if TYPE_CHECKING:
    from ccs.client import Agent, CoherenceAdapterCore, Transaction, Versioned
    from ccs.coordinator import Coordinator, CrashRecoveryConfig, Limits, ManualClock
    from ccs.protocol.errors import (
        CoherenceError,
        ConflictError,
        GrantReclaimed,
        NotOwner,
        RetriesExhausted,
        StaleEpoch,
        StaleReadGeneration,
        StaleView,
        TransactionConflict,
        UnknownArtifact,
        VersionConflict,
        ViewExpired,
    )
    from ccs.protocol.records import Mesi

__version__ = "0.1.0"

__all__ = [
    "Agent", "CoherenceAdapterCore", "CoherenceError", "ConflictError", "Coordinator",
    "CrashRecoveryConfig", "GrantReclaimed", "Limits", "ManualClock", "Mesi", "NotOwner",
    "RetriesExhausted", "StaleEpoch", "StaleReadGeneration", "StaleView", "Transaction",
    "TransactionConflict", "UnknownArtifact", "VersionConflict", "Versioned", "ViewExpired",
]
