from ccs.coordinator.clock import Clock, ManualClock, SystemClock
from ccs.coordinator.config import CrashRecoveryConfig, Limits
from ccs.coordinator.coordinator import Coordinator

__all__ = ["Clock", "Coordinator", "CrashRecoveryConfig", "Limits", "ManualClock", "SystemClock"]
