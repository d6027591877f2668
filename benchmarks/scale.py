"""Scale curves: what one operation costs as the store grows, per engine.

* ``artifacts`` (10 -> 100k records in the store): read hit, read miss, owner commit;
* ``agents`` (2 -> 256 agents of one core, each holding its own grant): the same three;
* ``sharers`` (1 -> 64 agents holding a copy of the artifact being committed): the commit must
  grow here (it invalidates every sharer) and the growth must be linear; the read miss must not;
* ``sweep`` (100 -> 10k live agents): one crash-recovery sweep that finds nothing to reclaim,
  in total and per live agent;
* ``owned`` (10 -> 3k artifacts owned by one agent): a commit that takes a new grant. It grows
  linearly: the agent's liveness record lists every artifact it may own and is rewritten whole
  (docs/performance.md, "known limits"); the other curves populate with agents of 500 each;
* ``memory``: tracemalloc bytes per artifact (a record, its content, its audit entry) and per
  agent (handle, cache entry, sharer registration, liveness record), memory engine.

Each point is the median of per-operation samples (the mean, which also carries the occasional
sweep an operation triggers, is kept in the JSON). For every curve the script reports the ratio
largest/smallest (flat: within 2x) and a least-squares line (slope per unit, r^2). Writes JSON, a
table and a self-contained HTML report with inline SVG plots (matplotlib).

Usage: ``python benchmarks/scale.py [--quick] [--engines memory,sqlite,postgres,redis]
[--out DIR]``. ``--quick`` is a smoke test (small ranges, few samples, seconds). PostgreSQL and
Redis are used when named and their URLs are set (CCS_TEST_POSTGRES_DSN / CCS_TEST_REDIS_URL);
their artifact range stops at 10k (populating 100k records over the network takes minutes).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape

from ccs import CoherenceAdapterCore

NS_PER_US = 1000


@contextmanager
def opened(engine: str) -> Iterator[CoherenceAdapterCore]:
    """A fresh store on ``engine`` and a core on it; dropped afterwards."""
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="ccs-scale-") as tmp:
        url = {"memory": "memory://", "sqlite": f"sqlite:///{tmp}/s.db",
               "postgres": _with(os.environ.get("CCS_TEST_POSTGRES_DSN", ""), f"schema=scale_{tag}"),
               "redis": _with(os.environ.get("CCS_TEST_REDIS_URL", ""), f"prefix=scale_{tag}")}[engine]
        core = CoherenceAdapterCore(url)
        try:
            yield core
        finally:
            core.close()
            _drop(engine, url)


def _with(url: str, param: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{param}"


def _drop(engine: str, url: str) -> None:
    if engine == "postgres":
        import psycopg

        from ccs.backends.postgres import parse_postgres_url
        conninfo, schema, _ = parse_postgres_url(url)
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    elif engine == "redis":
        from ccs.backends.redis import RedisBackend

        backend = RedisBackend(url)
        backend.drop_all()
        backend.close()


def sample(op: Callable[[int], object], n: int, setup: Callable[[int], object] | None = None) -> dict:
    """Median and mean of ``n`` timed calls of ``op(i)`` (``setup(i)`` untimed before each)."""
    clock, out = time.perf_counter_ns, []
    for i in range(n):
        if setup is not None:
            setup(i)
        t0 = clock()
        op(i)
        out.append(clock() - t0)
    return {"median_us": round(statistics.median(out) / NS_PER_US, 2),
            "mean_us": round(statistics.fmean(out) / NS_PER_US, 2)}


def three_ops(core: CoherenceAdapterCore, ids: list[str], n: int, writer: str, reader: str) -> dict:
    """Read hit, read miss (after an untimed peer commit) and owner commit on random ``ids``."""
    w, r = core.agent(writer), core.agent(reader)
    rng = random.Random(7)
    picks = [rng.choice(ids) for _ in range(n)]
    for aid in set(picks):
        r.read(aid)
        w.read(aid)  # the writer derives its commits from the current version
    out = {"read_hit": sample(lambda i: r.read(picks[i]), n)}
    out["read_miss"] = sample(lambda i: r.read(picks[i]), n,
                              setup=lambda i: w.write(picks[i], f"m{i}"))
    out["commit"] = sample(lambda i: w.write(picks[i], f"c{i}"), n)
    return out


PER_WRITER = 500  # artifacts each populating agent creates (see owned_curve for why it matters)


def artifacts_curve(engine: str, sizes: list[int], n: int) -> dict:
    out = {}
    for size in sizes:
        with opened(engine) as core:
            ids = [f"doc/{k}" for k in range(size)]
            for k, aid in enumerate(ids):
                core.agent(f"w{k // PER_WRITER}").write(aid, "v0")
            out[size] = three_ops(core, ids, n, "writer", "reader")
    return out


def owned_curve(engine: str, counts: list[int], n: int) -> dict:
    """A commit that takes a new grant, by an agent already owning ``count`` artifacts: its
    liveness record lists every artifact it may own (for the sweep) and is rewritten whole."""
    out = {}
    for count in counts:
        with opened(engine) as core:
            w = core.agent("owner")
            for k in range(count):
                w.write(f"doc/{k}", "v0")
            out[count] = {"commit_new_grant": sample(lambda i, w=w: w.write(f"new/{i}", "v0"), n)}
    return out


def agents_curve(engine: str, counts: list[int], n: int) -> dict:
    out = {}
    for count in counts:
        with opened(engine) as core:
            for k in range(count):  # every agent holds a grant: a liveness record each
                core.agent(f"a{k}").write(f"own/{k}", "v0")
            ids = [f"own/{k}" for k in range(min(count, 16))]
            out[count] = three_ops(core, ids, n, "a0", "a1")
    return out


def sharers_curve(engine: str, counts: list[int], n: int) -> dict:
    out = {}
    for count in counts:
        with opened(engine) as core:
            out[count] = _sharers_point(core, count, n)
    return out


def _sharers_point(core: CoherenceAdapterCore, count: int, n: int) -> dict:
    w = core.agent("writer")
    readers = [core.agent(f"r{k}") for k in range(count)]
    w.write("hot", "v0")

    def share(i: int) -> None:
        for r in readers:
            r.read("hot")

    commit = sample(lambda i: w.write("hot", f"c{i}"), n, setup=share)
    miss = sample(lambda i: readers[0].read("hot"), n,
                  setup=lambda i: (share(i), w.write("hot", f"m{i}")))
    return {"commit": commit, "read_miss": miss}


def sweep_curve(engine: str, counts: list[int], rounds: int) -> dict:
    out = {}
    for count in counts:
        with opened(engine) as core:
            coord = core.coordinator
            for k in range(count):
                coord.heartbeat(f"live{k}@scale")
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter_ns()
                notes = coord.sweep()
                times.append(time.perf_counter_ns() - t0)
                assert not notes
            total = statistics.median(times) / NS_PER_US
            out[count] = {"sweep": {"median_us": round(total, 1), "mean_us": round(total, 1)},
                          "sweep_per_agent": {"median_us": round(total / count, 3),
                                              "mean_us": round(total / count, 3)}}
    return out


def memory_costs(artifacts: int, agents: int) -> dict:
    """tracemalloc bytes per artifact and per agent on the memory engine."""
    gc.collect()
    tracemalloc.start()
    core = CoherenceAdapterCore("memory://")
    w = core.agent("writer")
    base = tracemalloc.get_traced_memory()[0]
    for k in range(artifacts):
        w.write(f"doc/{k}", f"value {k:08d}")
    per_artifact = (tracemalloc.get_traced_memory()[0] - base) / artifacts
    base = tracemalloc.get_traced_memory()[0]
    for k in range(agents):
        core.agent(f"a{k}").read("doc/0")
    per_agent = (tracemalloc.get_traced_memory()[0] - base) / agents
    tracemalloc.stop()
    core.close()
    return {"bytes_per_artifact": round(per_artifact), "bytes_per_agent": round(per_agent),
            "artifacts": artifacts, "agents": agents}


def fit(xs: list[float], ys: list[float]) -> dict:
    """Least-squares line and how well it fits (r^2), plus largest/smallest."""
    slope, intercept = statistics.linear_regression(xs, ys)
    mean = statistics.fmean(ys)
    ss_tot = sum((y - mean) ** 2 for y in ys) or 1e-12
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    return {"ratio_largest_smallest": round(ys[-1] / ys[0], 2) if ys[0] else None,
            "slope_us_per_unit": round(slope, 4), "intercept_us": round(intercept, 2),
            "r2": round(1 - ss_res / ss_tot, 3)}


def summarize(curves: dict) -> list[dict]:
    rows = []
    for dim, by_engine in curves.items():
        for engine, points in by_engine.items():
            xs = sorted(points)
            for op in points[xs[0]]:
                ys = [points[x][op]["median_us"] for x in xs]
                f = fit([float(x) for x in xs], ys)
                must_grow = (dim == "sharers" and op == "commit") or op == "sweep"
                must_grow = must_grow or dim == "owned"  # a known linear cost, reported as such
                verdict = ("linear" if f["r2"] >= 0.9 else "NOT linear") if must_grow else \
                    ("flat" if f["ratio_largest_smallest"] is not None
                     and f["ratio_largest_smallest"] <= 2 else "NOT flat")
                rows.append({"dimension": dim, "engine": engine, "op": op, "x": xs, "median_us": ys,
                             **f, "expect": "linear growth" if must_grow else "flat (<=2x)",
                             "verdict": verdict})
    return rows


def plots(curves: dict) -> dict[str, str]:
    """One inline SVG per dimension: a panel per engine, a line per operation (log-log)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    out = {}
    for dim, by_engine in curves.items():
        engines = list(by_engine)
        fig = Figure(figsize=(4.2 * len(engines), 3.2))
        axes = fig.subplots(1, len(engines), squeeze=False)
        for ax, engine in zip(axes[0], engines, strict=True):
            points = by_engine[engine]
            xs = sorted(points)
            for op in points[xs[0]]:
                ax.plot(xs, [points[x][op]["median_us"] for x in xs], marker="o", label=op)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{engine}", fontsize=10)
            ax.set_xlabel(dim)
            ax.set_ylabel("us per op (median)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
        svg = buf.getvalue()
        out[dim] = svg[svg.index("<svg"):]
    return out


def html_report(report: dict, svgs: dict[str, str]) -> str:
    head = ["dimension", "engine", "op", "x", "median us", "largest/smallest", "slope us/unit", "r2",
            "expected", "verdict"]
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in (
            r["dimension"], r["engine"], r["op"], f"{r['x'][0]}..{r['x'][-1]}",
            " / ".join(f"{y:g}" for y in r["median_us"]), r["ratio_largest_smallest"],
            r["slope_us_per_unit"], r["r2"], r["expect"], r["verdict"])) + "</tr>"
        for r in report["summary"])
    mem = report["memory"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>ccs scale curves</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 6px}</style></head><body>"
        f"<h1>Scale curves</h1><p>{escape(report['machine'])}</p>"
        + "".join(f"<h2>{escape(dim)}</h2>{svg}" for dim, svg in svgs.items())
        + "<h2>Ratios and fits</h2><table><tr>" + "".join(f"<th>{h}</th>" for h in head)
        + f"</tr>{rows}</table><h2>Memory (memory engine, tracemalloc)</h2>"
        f"<p>{mem['bytes_per_artifact']} bytes per artifact ({mem['artifacts']} artifacts); "
        f"{mem['bytes_per_agent']} bytes per agent ({mem['agents']} agents)</p></body></html>")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small ranges, few samples: a smoke test")
    ap.add_argument("--engines", default="memory,sqlite")
    ap.add_argument("--out", default="bench-results", help="folder for scale.json and scale.html")
    args = ap.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e in ("memory", "sqlite") or os.environ.get(
        {"postgres": "CCS_TEST_POSTGRES_DSN", "redis": "CCS_TEST_REDIS_URL"}.get(e, ""))]
    q = args.quick
    n = 40 if q else 300
    curves: dict[str, dict] = {"artifacts": {}, "agents": {}, "sharers": {}, "sweep": {}, "owned": {}}
    started = time.time()
    for engine in engines:
        remote = engine in ("postgres", "redis")
        sizes = [10, 100, 1000] if q else [10, 100, 1000, 10_000] + ([] if remote else [100_000])
        curves["artifacts"][engine] = artifacts_curve(engine, sizes, n)
        curves["agents"][engine] = agents_curve(engine, [2, 16, 64] if q else [2, 8, 32, 128, 256], n)
        curves["sharers"][engine] = sharers_curve(engine, [1, 8, 64] if q else [1, 2, 4, 8, 16, 32, 64],
                                                  n // 2 if not q else n)
        live = [100, 1000] if q else [100, 1000, 10_000]
        curves["sweep"][engine] = sweep_curve(engine, live, 3 if q else 5)
        curves["owned"][engine] = owned_curve(engine, [10, 100, 1000] if q else [10, 100, 1000, 3000],
                                              20 if q else 50)
        print(f"{engine}: done at {time.time() - started:.0f}s", file=sys.stderr, flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    report = {"quick": q, "samples_per_point": n, "engines": engines, "curves": curves,
              "summary": summarize(curves), "memory": memory_costs(2000 if q else 20_000, 200 if q else 1000),
              "machine": f"{os.cpu_count()} CPUs, load average {load:.2f} at the end, "
                         f"{time.time() - started:.0f} s", "seconds": round(time.time() - started, 1)}
    print(f"{'dimension':10} {'engine':8} {'op':16} {'range':>12} {'largest/smallest':>17} "
          f"{'slope us/unit':>14} {'r2':>6}  verdict")
    for r in report["summary"]:
        span = f"{r['x'][0]}..{r['x'][-1]}"
        print(f"{r['dimension']:10} {r['engine']:8} {r['op']:16} {span:>12} "
              f"{r['ratio_largest_smallest']!s:>17} {r['slope_us_per_unit']:>14} {r['r2']:>6}  "
              f"{r['verdict']}")
    mem = report["memory"]
    print(f"memory: {mem['bytes_per_artifact']} B/artifact, {mem['bytes_per_agent']} B/agent")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "scale.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    with open(os.path.join(args.out, "scale.html"), "w") as f:
        f.write(html_report(report, plots(curves)))
    print(f"wrote {args.out}/scale.json and {args.out}/scale.html", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
