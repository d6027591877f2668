from typing import TYPE_CHECKING

from ccs._lazy import lazy

_MEMBERS = {
    "Clock": "ccs.coordinator.clock", "ManualClock": "ccs.coordinator.clock",
    "SystemClock": "ccs.coordinator.clock", "CrashRecoveryConfig": "ccs.coordinator.config",
    "Limits": "ccs.coordinator.config", "Coordinator": "ccs.coordinator.coordinator",
}
__all__ = ["Clock", "Coordinator", "CrashRecoveryConfig", "Limits", "ManualClock", "SystemClock"]
assert set(__all__) == set(_MEMBERS)
__getattr__, __dir__ = lazy(globals(), _MEMBERS)

if TYPE_CHECKING:
    from ccs.coordinator.clock import Clock, ManualClock, SystemClock
    from ccs.coordinator.config import CrashRecoveryConfig, Limits
    from ccs.coordinator.coordinator import Coordinator
