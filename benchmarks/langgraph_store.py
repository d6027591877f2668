"""CCSStore next to LangGraph's InMemoryStore: get / put / search, measured in the same run.

    python benchmarks/langgraph_store.py [--n 20000] [--rounds 5] [--items 200] [--engine memory://]

Both stores run the same single-threaded workload (no graph, one agent: the store's fast path).
Each round times every operation with ``perf_counter_ns``; rounds alternate between the stores so
machine noise hits both alike, and the reported figure for each (store, op) is the median over
rounds of ops/s and of the per-op p50. Prints JSON, then a table with the ratio to InMemoryStore.
No assertions: numbers are reported, not checked.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable

from langgraph.store.memory import InMemoryStore

from ccs.adapters import CCSStore

NS = ("users", "u1", "memories")
VALUE = {"text": "prefers concise answers; works in UTC+1", "n": 0, "tags": ["style", "tz"]}


def _time(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    """(ops per second, p50 microseconds) of ``n`` calls of ``fn(i)``."""
    samples = [0] * n
    clock = time.perf_counter_ns
    start = clock()
    for i in range(n):
        t = clock()
        fn(i)
        samples[i] = clock() - t
    total = clock() - start
    return n / (total / 1e9), statistics.median(samples) / 1000.0


def _populate(store, items: int) -> None:
    for i in range(items):
        store.put(("users", f"u{i % 4}", "memories"), f"m{i}", {**VALUE, "n": i, "kind": i % 3})
    store.put(NS, "hot", VALUE)


def _workloads(store, n: int) -> dict[str, Callable[[int], object]]:
    return {
        "get": lambda i: store.get(NS, "hot"),
        "put": lambda i: store.put(NS, f"k{i % 64}", {**VALUE, "n": i}),
        "search": lambda i: store.search(("users", "u1"), filter={"kind": 1}, limit=10),
    }


def run(n: int, rounds: int, items: int, engine: str, strategy: str) -> dict:
    stores = {"InMemoryStore": InMemoryStore(), "CCSStore": CCSStore(strategy=strategy, engine=engine)}
    for store in stores.values():
        _populate(store, items)
    raw: dict[str, dict[str, list[tuple[float, float]]]] = {s: {} for s in stores}
    for _ in range(rounds):
        for name, store in stores.items():
            for op, fn in _workloads(store, n).items():
                count = n if op != "search" else max(1, n // 20)
                fn(0)  # warm
                raw[name].setdefault(op, []).append(_time(fn, count))
    result = {}
    for name, ops in raw.items():
        result[name] = {
            op: {"ops_per_s": round(statistics.median(r[0] for r in runs), 1),
                 "p50_us": round(statistics.median(r[1] for r in runs), 3)}
            for op, runs in ops.items()
        }
    base = result["InMemoryStore"]
    ratios = {op: {"throughput_ratio": round(base[op]["ops_per_s"] / result["CCSStore"][op]["ops_per_s"], 2),
                   "p50_ratio": round(result["CCSStore"][op]["p50_us"] / base[op]["p50_us"], 2)}
              for op in base}
    stores["CCSStore"].close()
    return {
        "benchmark": "langgraph_store", "n": n, "rounds": rounds, "items": items, "engine": engine,
        "strategy": strategy, "python": platform.python_version(), "results": result,
        "ccs_slowdown_vs_inmemory": ratios,
    }


def table(report: dict) -> str:
    lines = [f"{'op':<8}{'store':<15}{'ops/s':>12}{'p50 us':>10}{'slowdown':>10}"]
    for op in ("get", "put", "search"):
        for name in ("InMemoryStore", "CCSStore"):
            r = report["results"][name][op]
            ratio = "1.00x" if name == "InMemoryStore" else \
                f"{report['ccs_slowdown_vs_inmemory'][op]['throughput_ratio']:.2f}x"
            lines.append(f"{op:<8}{name:<15}{r['ops_per_s']:>12,.0f}{r['p50_us']:>10.2f}{ratio:>10}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=20000, help="operations per (store, op, round)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--items", type=int, default=200, help="items in the store before measuring")
    p.add_argument("--engine", default="memory://")
    p.add_argument("--strategy", default="lazy")
    args = p.parse_args(argv)
    report = run(args.n, args.rounds, args.items, args.engine, args.strategy)
    print(json.dumps(report, indent=2))
    print()
    print(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
