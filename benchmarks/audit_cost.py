"""What the audit log costs a commit: one process, two stores of one engine, audit on (the
default) and off (``Limits(audit_retain=0)``), checked writes of one artifact in interleaved
blocks so that machine load hits both sides alike; medians per side.

Usage: ``python benchmarks/audit_cost.py [--engines memory,sqlite,postgres,redis] [--blocks 16]
[--per 200]``. Service URLs come from CCS_TEST_POSTGRES_DSN / CCS_TEST_REDIS_URL (defaults: the
local test services).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid

from ccs import Coordinator, Limits

PG = os.environ.get("CCS_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("CCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AGENT = "bench@0123456789ab"


def url(engine: str, tmp: str) -> str:
    tag = uuid.uuid4().hex[:10]
    return {"memory": "memory://", "sqlite": f"sqlite:///{tmp}/{tag}.db",
            "postgres": f"{PG}?schema=bench_{tag}", "redis": f"{REDIS}?prefix=bench{tag}"}[engine]


def measure(engine: str, blocks: int, per: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        sides = {"on": Coordinator(url(engine, tmp)),
                 "off": Coordinator(url(engine, tmp), limits=Limits(audit_retain=0))}
        version = dict.fromkeys(sides, 0)
        took: dict[str, list[float]] = {k: [] for k in sides}
        n = 0
        try:
            for block in range(blocks):
                order = ["on", "off"] if block % 2 else ["off", "on"]
                for side in order:
                    c = sides[side]
                    start = time.perf_counter()
                    for _ in range(per):
                        n += 1
                        version[side] = c.write(AGENT, "doc", version[side], 0,
                                                (b"x" * 100 + str(n).encode(), "str"),
                                                commit_id=f"c{n}").version
                    took[side].append((time.perf_counter() - start) / per * 1e6)
        finally:
            for c in sides.values():
                backend = c.backend
                for cleanup in ("drop_schema", "drop_all"):
                    if hasattr(backend, cleanup):
                        getattr(backend, cleanup)()
                c.close()
    return statistics.median(took["on"]), statistics.median(took["off"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="memory,sqlite,postgres,redis")
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--per", type=int, default=200)
    args = ap.parse_args()
    for engine in args.engines.split(","):
        on, off = measure(engine, args.blocks, args.per)
        print(f"{engine:9} audit on {on:8.1f} us/commit, off {off:8.1f} us/commit: "
              f"{on - off:+7.1f} us ({(on / off - 1) * 100:+.0f}%)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
