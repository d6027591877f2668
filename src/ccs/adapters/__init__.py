"""Framework adapters. Each imports its framework lazily, so ``ccs.adapters`` stays importable
without any of them installed."""

from __future__ import annotations

from typing import Any

from ccs.client import CoherenceAdapterCore
from ccs.coordinator import CrashRecoveryConfig

__all__ = ["CCSStore", "CoherenceAdapterCore", "CoherentVolume", "CrashRecoveryConfig"]


def __getattr__(name: str) -> Any:
    if name == "CCSStore":
        from ccs.adapters.langgraph import CCSStore
        return CCSStore
    if name == "CoherentVolume":
        from ccs.adapters.coherent_volume import CoherentVolume
        return CoherentVolume
    raise AttributeError(name)
