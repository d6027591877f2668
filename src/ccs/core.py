"""``ccs.core``: the seed package's import path for the protocol. A thin re-export of
``ccs.protocol`` (records, MESI views, typed errors) and the client entry point; new code should
import from ``ccs`` or ``ccs.protocol``. See docs/seed-compatibility.md."""

from ccs.client import CoherenceAdapterCore
from ccs.coordinator import CrashRecoveryConfig
from ccs.protocol import *  # noqa: F403
from ccs.protocol import __all__ as _protocol_all
from ccs.protocol.errors import (
    ERRORS_BY_CODE,
    CoherenceError,
    ConflictError,
    GrantReclaimed,
    StaleEpoch,
    StaleReadGeneration,
    StaleView,
    VersionConflict,
)

__all__ = [*_protocol_all, "ERRORS_BY_CODE", "CoherenceAdapterCore", "CoherenceError", "ConflictError",
           "CrashRecoveryConfig", "GrantReclaimed", "StaleEpoch", "StaleReadGeneration", "StaleView",
           "VersionConflict"]
