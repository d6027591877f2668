"""Console scripts of the seed package whose features are not built yet. Each prints one line
saying so and what to use meanwhile, and exits 2 (a usage error), so scripts that call them fail
loudly instead of silently doing nothing. See docs/seed-compatibility.md."""

from __future__ import annotations

import sys

DOC = "docs/seed-compatibility.md"

MESSAGES = {
    "agent-coherence-replay": (
        "invariant replay is not built yet in this release (planned as `ccs replay`); meanwhile "
        "CCSStore.record_to(path) records every operation and `ccs status --engine URL` shows a store"),
    "ccs-diagnose": (
        "divergent-read diagnosis is not built yet in this release; meanwhile swap InMemoryStore for "
        "CCSStore (a stale write then raises StaleView) and log operations with CCSStore.record_to(path)"),
}


def _refuse(name: str) -> int:
    print(f"{name}: {MESSAGES[name]} (see {DOC})", file=sys.stderr)
    return 2


def replay() -> int:
    return _refuse("agent-coherence-replay")


def diagnose() -> int:
    return _refuse("ccs-diagnose")
