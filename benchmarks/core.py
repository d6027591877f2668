"""Core benchmark: the agent API on the embedded engines, each next to a raw baseline run here.

Prints a JSON document and a readable table. Nothing is asserted; numbers vary with the machine.
Usage: python benchmarks/core.py [--quick] [--json-only]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from ccs import CoherenceAdapterCore, CrashRecoveryConfig, RetriesExhausted

NS = 1e9


def timed(op: Callable[[int], object], n: int, sample_every: int = 1) -> dict:
    """Run ``op(i)`` n times; ops/s from the whole loop, p50/p99 from per-op samples."""
    samples = []
    clock = time.perf_counter_ns
    start = clock()
    for i in range(n):
        if i % sample_every == 0:
            t0 = clock()
            op(i)
            samples.append(clock() - t0)
        else:
            op(i)
    elapsed = (clock() - start) / NS
    samples.sort()
    return {
        "ops": n,
        "ops_per_s": round(n / elapsed),
        "p50_us": round(samples[len(samples) // 2] / 1000, 2),
        "p99_us": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] / 1000, 2),
    }


def bench_reads(n: int) -> dict:
    out = {}
    for size in (1024, 65536):
        core = CoherenceAdapterCore("memory://")
        a = core.agent("reader")
        core.agent("writer").write("doc", "x" * size)
        a.read("doc")
        out[f"read_hit_{size // 1024}KiB"] = timed(lambda i, a=a: a.read("doc"), n)
        raw = {"doc": "x" * size}
        out[f"raw_dict_get_{size // 1024}KiB"] = timed(lambda i, raw=raw: raw["doc"], n)
    core = CoherenceAdapterCore("memory://")
    a, w = core.agent("reader"), core.agent("writer")
    w.write("doc", "x" * 1024)
    a.read("doc")
    samples = []
    for i in range(n // 10):
        w.write("doc", f"{i:08d}" + "x" * 1016)
        t0 = time.perf_counter_ns()
        a.read("doc")
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    out["read_miss_1KiB"] = {
        "ops": len(samples),
        "ops_per_s": round(len(samples) / (sum(samples) / NS)),
        "p50_us": round(samples[len(samples) // 2] / 1000, 2),
        "p99_us": round(samples[int(len(samples) * 0.99)] / 1000, 2),
    }
    return out


def bench_commits(n: int, engine: str = "memory://") -> dict:
    out = {}
    core = CoherenceAdapterCore(engine)
    owner = core.agent("owner")
    payload = "y" * 1024
    owner.write("doc", payload)
    out["owner_commit"] = timed(lambda i: owner.write("doc", f"{i}" + payload), n)

    readers = [core.agent(f"r{k}") for k in range(3)]
    writer = core.agent("w")
    writer.write("shared", payload)
    samples = []
    for i in range(n // 5):
        for r in readers:
            r.read("shared")
        t0 = time.perf_counter_ns()
        writer.write("shared", f"{i}" + payload)
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    out["commit_invalidating_3_sharers"] = {
        "ops": len(samples), "ops_per_s": round(len(samples) / (sum(samples) / NS)),
        "p50_us": round(samples[len(samples) // 2] / 1000, 2),
        "p99_us": round(samples[int(len(samples) * 0.99)] / 1000, 2),
    }
    cas = core.agent("cas")
    cas.write("counter", 0)
    out["uncontended_write_cas"] = timed(lambda i: cas.write_cas("counter", lambda v: v + 1), n)
    out["_final_counter_ok"] = core.agent("check").read_with_version("counter").value == n
    lock, store = threading.Lock(), {"doc": (0, "")}

    def raw_commit(i: int) -> None:
        with lock:
            version, _ = store["doc"]
            store["doc"] = (version + 1, payload)

    out["raw_locked_dict_commit"] = timed(raw_commit, n)
    core.close()
    return out


def bench_thread_cas(threads: int, per_thread: int) -> dict:
    core = CoherenceAdapterCore("memory://")
    core.agent("init").write("counter", 0)
    successes, conflicts, exhausted = [0] * threads, [0] * threads, [0] * threads

    def worker(k: int) -> None:
        agent = core.agent(f"t{k}")
        for _ in range(per_thread):
            before = agent.stats.conflicts
            try:
                agent.write_cas("counter", lambda v: v + 1, retries=64, backoff=0)
                successes[k] += 1
            except RetriesExhausted:
                exhausted[k] += 1
            conflicts[k] += agent.stats.conflicts - before

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    t0 = time.perf_counter()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    final = core.agent("check").read_with_version("counter").value
    core.close()
    return {
        "threads": threads, "successes": sum(successes), "successes_per_s": round(sum(successes) / elapsed),
        "conflicts": sum(conflicts), "exhausted": sum(exhausted),
        "lost": sum(successes) - final,
    }


def _sqlite_worker(url: str, agent: str, n: int, q) -> None:
    core = CoherenceAdapterCore(url, crash_recovery=CrashRecoveryConfig(enabled=False))
    a = core.agent(agent)
    ok = 0
    t0 = time.perf_counter()
    for _ in range(n):
        try:
            a.write_cas("counter", lambda v: (v or 0) + 1, retries=200, backoff=0.0005)
            ok += 1
        except RetriesExhausted:
            pass
    q.put((ok, time.perf_counter() - t0))
    core.close()


def bench_sqlite(n: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/state.db"
        res = bench_commits(n, url)
        out["sqlite_owner_commit_1proc"] = res["owner_commit"]
        out["sqlite_write_cas_1proc"] = res["uncontended_write_cas"]
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        procs = [ctx.Process(target=_sqlite_worker, args=(url, f"p{k}", n // 4, q)) for k in range(4)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        results = [q.get(timeout=300) for _ in procs]
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - t0
        core = CoherenceAdapterCore(url)
        final = core.agent("check").read_with_version("counter").value
        ok = sum(r[0] for r in results)
        out["sqlite_cas_4proc"] = {"successes": ok, "successes_per_s": round(ok / elapsed),
                                   "lost": (n + ok) - final if final else None,
                                   "note": "wall time includes process start-up"}
        core.close()
        raw_path = os.path.join(tmp, "raw.db")
        conn = sqlite3.connect(raw_path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, version INTEGER, body BLOB)")
        conn.execute("INSERT INTO t VALUES (1, 0, x'')")
        body = b"y" * 1024

        def raw(i: int) -> None:
            conn.execute("UPDATE t SET version=version+1, body=? WHERE id=1 AND version=?", (body, i))

        out["raw_sqlite_cas_update_1proc"] = timed(raw, n)
        conn.close()
    return out


def bench_scaling(quick: bool) -> dict:
    out = {}
    sizes = (10, 1000, 10_000) if quick else (10, 1000, 10_000, 100_000)
    for count in sizes:
        core = CoherenceAdapterCore("memory://", crash_recovery=CrashRecoveryConfig(enabled=False))
        a = core.agent("a")
        for k in range(count):
            a.write(f"art{k}", "v")
        ids = [f"art{k % count}" for k in range(5000)]
        hit = timed(lambda i, a=a, ids=ids: a.read(ids[i]), 5000)
        commit = timed(lambda i, a=a, ids=ids: a.write(ids[i], f"w{i}"), 5000)
        out[f"artifacts_{count}"] = {"read_hit_per_s": hit["ops_per_s"], "commit_per_s": commit["ops_per_s"]}
        core.close()
    for agents in (2, 16, 256) if quick else (2, 16, 64, 256):
        core = CoherenceAdapterCore("memory://", crash_recovery=CrashRecoveryConfig(enabled=False))
        handles = [core.agent(f"g{k}") for k in range(agents)]
        handles[0].write("doc", "x" * 1024)
        rounds = max(5, 2000 // agents)
        t0 = time.perf_counter()
        for i in range(rounds):
            for h in handles:
                h.read("doc")
            handles[i % agents].write_cas("doc", lambda v, i=i: v[:1000] + f"{i:08d}")
        elapsed = time.perf_counter() - t0
        ops = rounds * (agents + 1)
        out[f"agents_{agents}"] = {"ops_per_s_read_all_then_write": round(ops / elapsed),
                                   "rounds": rounds}
        core.close()
    return out


def _otel_providers():
    """OpenTelemetry SDK providers whose exporters drop everything (the SDK's own cost only)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class NoSpans(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    class NoMetrics(MetricExporter):
        def export(self, metrics_data, timeout_millis=10_000, **kwargs):
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis=10_000):
            return True

        def shutdown(self, timeout_millis=30_000, **kwargs):
            pass

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(NoSpans()))
    meter_provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
        NoMetrics(), export_interval_millis=60_000)])
    return tracer_provider, meter_provider


def bench_observers(n: int) -> dict:
    """Owner commit and read hit with no observer, an observer that does nothing (the cost of
    describing each operation), and the OpenTelemetry observer on the SDK with no-op exporters."""
    try:
        tracer_provider, meter_provider = _otel_providers()
    except ImportError:
        return {"skipped": "opentelemetry-sdk is not installed"}
    from ccs.observe import otel

    class Nothing:
        def on_event(self, event):
            pass

    setups = {"none": lambda core: None, "noop_observer": lambda core: core.observers.append(Nothing()),
              "otel_sdk": lambda core: otel.instrument(core, tracer_provider=tracer_provider,
                                                       meter_provider=meter_provider)}
    out = {}
    payload = "y" * 1024
    for name, setup in setups.items():
        core = CoherenceAdapterCore("memory://")
        setup(core)
        owner = core.agent("owner")
        owner.write("doc", payload)
        out[f"owner_commit_{name}"] = timed(lambda i, owner=owner: owner.write("doc", f"{i}" + payload), n)
        out[f"read_hit_{name}"] = timed(lambda i, owner=owner: owner.read("doc"), n)
        core.close()
    for op in ("owner_commit", "read_hit"):
        base = out[f"{op}_none"]["p50_us"]
        for name in ("noop_observer", "otel_sdk"):
            out[f"{op}_{name}"]["p50_overhead_us"] = round(out[f"{op}_{name}"]["p50_us"] - base, 2)
    tracer_provider.shutdown()
    meter_provider.shutdown()
    return out


def table(results: dict) -> str:
    lines = [f"{'benchmark':44} {'ops/s':>12} {'p50 us':>9} {'p99 us':>9}"]
    for section, rows in results.items():
        if not isinstance(rows, dict):
            continue
        lines.append(f"-- {section}")
        for name, row in rows.items():
            if not isinstance(row, dict):
                lines.append(f"  {name:42} {row!s:>12}")
                continue
            rate = row.get("ops_per_s", row.get("successes_per_s", row.get("read_hit_per_s", "")))
            extra = ", ".join(f"{k}={v}" for k, v in row.items()
                              if k not in {"ops_per_s", "successes_per_s", "p50_us", "p99_us", "ops"})
            lines.append(f"  {name:42} {rate!s:>12} {row.get('p50_us', ''):>9} {row.get('p99_us', ''):>9}"
                         + (f"  ({extra})" if extra else ""))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    results = {
        "python": sys.version.split()[0],
        "reads": bench_reads(n),
        "commits_memory": bench_commits(n // 2),
        "cas_4_threads": {"memory": bench_thread_cas(4, n // 40)},
        "sqlite": bench_sqlite(n // 20),
        "scaling": bench_scaling(args.quick),
        "observers": bench_observers(n // 4),
    }
    print(json.dumps(results, indent=2))
    if not args.json_only:
        print()
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
