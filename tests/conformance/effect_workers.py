"""Child processes for the effect and handoff tests (spawned: importable by module path)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from ccs import CoherenceAdapterCore, failpoints
from ccs.protocol.errors import ConflictError


def append_once(path: str):
    """An effect that deduplicates by its key, as the outbox asks effects to: it appends
    ``key`` to ``path`` unless a line with that key is already there."""
    def effect(key, payload):
        with open(path, "a+", encoding="utf-8") as f:
            f.seek(0)
            if key not in f.read().split():
                f.write(f"{key}\n")
                f.flush()
                os.fsync(f.fileno())
        return {"appended": key, "note": payload}
    return effect


def append_always(path: str):
    """An effect with no deduplication of its own: each call appends."""
    def effect(key, payload):
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{key}\n")
            f.flush()
            os.fsync(f.fileno())
        return {"appended": key}
    return effect


def effect_then_hang(url: str, out: str, marker: str, point: str, dedup: bool) -> None:
    """Run one gated effect; at ``point`` write ``marker`` and wait to be SIGKILLed."""
    def hang(**_):
        Path(marker).write_text("ready")
        time.sleep(120)

    with CoherenceAdapterCore(engine=url) as core:
        agent = core.agent("mailer")
        agent.read("plan")
        effect = append_once(out) if dedup else append_always(out)
        with failpoints.arm(point, hang), agent.effect(depends_on=["plan"]) as e:
            e.run(effect, "hello", key="mail-1", name="append")


def hammer(url: str, aid: str, seconds: float, ops: int, start) -> None:
    """A third agent: write_cas increments of ``aid`` until ``ops`` landed or time is up."""
    with CoherenceAdapterCore(engine=url) as core:
        agent = core.agent("intruder")
        start.wait(60)
        deadline = time.monotonic() + seconds
        done = 0
        while done < ops and time.monotonic() < deadline:
            try:
                agent.write_cas(aid, lambda v: (v or 0) + 1, retries=4, backoff=0.0005)
                done += 1
            except ConflictError:
                pass
