"""What the effect gate costs: per engine, one agent runs a no-op side effect gated on two inputs
(``agent.effect(...).run``: one transaction that checks the inputs and records the intent, one
that records it done) against two baselines measured in the same run, in interleaved blocks so
machine load hits every side alike; medians per side, in microseconds per effect.

* ``fresh read``: what an agent does without the gate: revalidate both inputs with the store,
  then run the effect (no atomic check, no record, nothing survives a crash);
* ``checked write``: one ``write`` of an artifact (one commit), the unit the gate's cost compares to.

Usage: ``python benchmarks/effects.py [--engines memory,sqlite,postgres,redis] [--blocks 8]
[--per 100]``. Prints a table, then one JSON line. Service URLs come from CCS_TEST_POSTGRES_DSN /
CCS_TEST_REDIS_URL (defaults: the local test services).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from audit_cost import url  # a fresh store of each engine (benchmarks/ is on the path)

from ccs import CoherenceAdapterCore

SIDES = ("gated effect", "fresh read", "checked write")


def measure(engine: str, blocks: int, per: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        core = CoherenceAdapterCore(engine=url(engine, tmp))
        agent = core.agent("bench")
        agent.write("plan", "the plan")
        agent.write("budget", 100)
        n = [0]

        def noop(key, payload):
            return None

        def gated():
            n[0] += 1
            with agent.effect(depends_on=["plan", "budget"]) as e:
                e.run(noop, key=f"k{n[0]}")

        def fresh():
            agent.read_with_version("plan")
            agent.read_with_version("budget")
            noop("", None)

        def write():
            n[0] += 1
            agent.write("doc", n[0])

        ops = dict(zip(SIDES, (gated, fresh, write), strict=True))
        took: dict[str, list[float]] = {k: [] for k in SIDES}
        try:
            for block in range(blocks):
                order = SIDES if block % 2 else tuple(reversed(SIDES))
                for side in order:
                    start = time.perf_counter()
                    for _ in range(per):
                        ops[side]()
                    took[side].append((time.perf_counter() - start) / per * 1e6)
        finally:
            backend = core.coordinator.backend
            for cleanup in ("drop_schema", "drop_all"):
                if hasattr(backend, cleanup):
                    getattr(backend, cleanup)()
            core.close()
    return {side: statistics.median(v) for side, v in took.items()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="memory,sqlite,postgres,redis")
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--per", type=int, default=100)
    args = ap.parse_args()
    results = {}
    print(f"{'engine':9} " + " ".join(f"{s:>14}" for s in SIDES) + "   (us per effect, median)")
    for engine in args.engines.split(","):
        r = results[engine] = measure(engine, args.blocks, args.per)
        print(f"{engine:9} " + " ".join(f"{r[s]:14.1f}" for s in SIDES))
    print(json.dumps({"benchmark": "effects", "unit": "us", "blocks": args.blocks,
                      "per": args.per, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
