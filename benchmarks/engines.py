"""Commit and compare-and-set throughput per engine, next to the raw client doing the same
conditional update in the same run.

* ``commit``: every process writes its own artifact through ``Agent.write`` (a checked write:
  version and epoch fenced in the store, content stored by hash, crash-recovery heartbeat). Raw:
  the same conditional update of its own row/key: psycopg ``UPDATE ... WHERE id = %s AND version = %s``,
  redis-py ``EVALSHA`` of a compare-and-set script (one round trip), sqlite3
  ``UPDATE ... WHERE version = ?`` (both sqlite3 sides at ``synchronous=NORMAL`` in WAL mode).
* ``cas``: every process increments ONE shared counter (contended) through ``Agent.write_cas``.
  Raw: read the version, conditional update, retry until it wins (psycopg ``SELECT`` +
  ``UPDATE ... WHERE version = %s``; redis-py ``HGET`` + ``EVALSHA`` of a compare-and-set script;
  sqlite3 ``SELECT`` + ``UPDATE ... WHERE version = ?``). Counted: successful increments per second.

Usage: ``python benchmarks/engines.py [--seconds 3] [--rounds 3] [--procs 1,4]
[--engines sqlite,postgres,redis] [--json out.json]``; each side runs ``rounds`` times, alternating,
and the medians are compared. Service URLs come from CCS_TEST_POSTGRES_DSN / CCS_TEST_REDIS_URL (defaults:
the local test services). Prints a table and JSON.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid

PG = os.environ.get("CCS_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("CCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BODY = "x" * 100
CAS_LUA = """
if redis.call('HGET', KEYS[1], 'v') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'v', ARGV[2], 'body', ARGV[3])
  return 1
end
return 0
"""


def ccs_worker(url: str, op: str, i: int, seconds: float, start, out) -> None:
    from ccs import CoherenceAdapterCore

    with CoherenceAdapterCore(engine=url) as core:
        agent = core.agent(f"p{i}")
        key = f"own{i}" if op == "commit" else "shared"
        agent.read(key, None)  # a later round starts from the store's current version
        if op == "commit":
            agent.write(key, 0)
        start.wait(120)
        n, t0 = 0, time.perf_counter()
        end = t0 + seconds
        while time.perf_counter() < end:
            if op == "commit":
                agent.write(key, n)
            else:
                agent.write_cas(key, lambda v: (v or 0) + 1, retries=10_000, backoff=0.0005)
            n += 1
        out.put((n, time.perf_counter() - t0))


class RawPostgres:
    def __init__(self, table: str) -> None:
        import psycopg

        self.conn = psycopg.connect(PG.split("?")[0], autocommit=True)
        self.table = table

    def setup(self, key: str) -> None:
        self.conn.execute(f"INSERT INTO {self.table} VALUES (%s, 0, %s) ON CONFLICT DO NOTHING", (key, BODY))

    def read(self, key: str) -> int:
        return self.conn.execute(f"SELECT version FROM {self.table} WHERE id = %s", (key,)).fetchone()[0]

    def update(self, key: str, version: int) -> bool:
        cur = self.conn.execute(f"UPDATE {self.table} SET version = version + 1, body = %s "
                                "WHERE id = %s AND version = %s", (BODY, key, version))
        return cur.rowcount == 1


class RawSqlite:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")

    def setup(self, key: str) -> None:
        self.conn.execute("INSERT OR IGNORE INTO raw VALUES (?, 0, ?)", (key, BODY))

    def read(self, key: str) -> int:
        return self.conn.execute("SELECT version FROM raw WHERE id = ?", (key,)).fetchone()[0]

    def update(self, key: str, version: int) -> bool:
        sql = "UPDATE raw SET version = version + 1, body = ? WHERE id = ? AND version = ?"
        return self.conn.execute(sql, (BODY, key, version)).rowcount == 1


class RawRedis:
    def __init__(self, prefix: str) -> None:
        import redis

        self.r = redis.Redis.from_url(REDIS)
        self.prefix = prefix
        self.sha = self.r.script_load(CAS_LUA)

    def setup(self, key: str) -> None:
        self.r.hsetnx(self.prefix + key, "v", 0)

    def read(self, key: str) -> int:
        return int(self.r.hget(self.prefix + key, "v"))

    def update(self, key: str, version: int) -> bool:  # EVALSHA compare-and-set
        return self.r.evalsha(self.sha, 1, self.prefix + key, version, version + 1, BODY) == 1


def raw_worker(engine: str, where: str, op: str, i: int, seconds: float, start, out) -> None:
    raw = {"postgres": RawPostgres, "sqlite": RawSqlite, "redis": RawRedis}[engine](where)
    key = f"own{i}" if op == "commit" else "shared"
    raw.setup(key)
    start.wait(120)
    n, t0 = 0, time.perf_counter()
    end = t0 + seconds
    version = raw.read(key)
    while time.perf_counter() < end:
        if op == "commit":
            assert raw.update(key, version)
            version += 1
        else:
            while not raw.update(key, raw.read(key)):
                pass
        n += 1
    out.put((n, time.perf_counter() - t0))


def run(target, args: tuple, procs: int, seconds: float) -> float:
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(procs), ctx.Queue()
    ps = [ctx.Process(target=target, args=(*args, i, seconds, start, out)) for i in range(procs)]
    for p in ps:
        p.start()
    results: list[tuple[int, float]] = []
    deadline = time.monotonic() + seconds + 180
    while len(results) < procs:
        try:
            results.append(out.get(timeout=1))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in ps) or time.monotonic() > deadline:
                for p in ps:
                    p.kill()
                raise RuntimeError(f"a benchmark process failed: {[p.exitcode for p in ps]}") from None
    for p in ps:
        p.join(30)
    return sum(n for n, _ in results) / max(t for _, t in results)


def stores(engine: str, tag: str, tmp: str) -> tuple[str, str]:
    """(ccs URL, raw location) for one engine, both fresh."""
    if engine == "postgres":
        import psycopg

        with psycopg.connect(PG.split("?")[0], autocommit=True) as c:
            c.execute(f"CREATE TABLE raw_{tag} (id text PRIMARY KEY, version int NOT NULL, body text)")
        sep = "&" if "?" in PG else "?"
        return f"{PG}{sep}schema=bench_{tag}", f"raw_{tag}"
    if engine == "redis":
        sep = "&" if "?" in REDIS else "?"
        return f"{REDIS}{sep}prefix=bench{tag}", f"raw{tag}:"
    path = os.path.join(tmp, "raw.db")
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE raw (id TEXT PRIMARY KEY, version INTEGER NOT NULL, body TEXT)")
    return f"sqlite:///{tmp}/ccs.db", path


def cleanup(engine: str, url: str, raw: str) -> None:
    if engine == "postgres":
        import psycopg

        from ccs.backends.postgres import parse_postgres_url
        conninfo, schema, _ = parse_postgres_url(url)
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            c.execute(f"DROP TABLE IF EXISTS {raw}")
    elif engine == "redis":
        import redis

        r = redis.Redis.from_url(REDIS)
        for pattern in (raw + "*", "{bench" + url.rsplit("prefix=bench", 1)[1] + "}:*"):
            keys = list(r.scan_iter(match=pattern, count=1000))
            for j in range(0, len(keys), 500):
                r.delete(*keys[j:j + 500])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--procs", default="1,4")
    ap.add_argument("--rounds", type=int, default=3, help="alternating runs of each side; medians")
    ap.add_argument("--engines", default="sqlite,postgres,redis")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args(argv)
    rows = []
    for engine in args.engines.split(","):
        for op in ("commit", "cas"):
            for procs in (int(p) for p in args.procs.split(",")):
                tag = uuid.uuid4().hex[:10]
                with tempfile.TemporaryDirectory(prefix="ccs-bench-") as tmp:
                    url, raw = stores(engine, tag, tmp)
                    try:  # interleaved rounds, medians: a shared machine's noise hits both sides
                        ours_runs, base_runs = [], []
                        for _ in range(args.rounds):
                            ours_runs.append(run(ccs_worker, (url, op), procs, args.seconds))
                            base_runs.append(run(raw_worker, (engine, raw, op), procs, args.seconds))
                        ours, base = statistics.median(ours_runs), statistics.median(base_runs)
                    finally:
                        cleanup(engine, url, raw)
                rows.append({"engine": engine, "op": op, "processes": procs, "ccs_ops_s": round(ours, 1),
                             "raw_ops_s": round(base, 1), "ratio": round(ours / base, 3),
                             "ccs_runs": [round(x, 1) for x in ours_runs],
                             "raw_runs": [round(x, 1) for x in base_runs]})
                print(f"{engine:9} {op:7} {procs} procs: ccs {ours:9.1f}/s  raw {base:9.1f}/s  "
                      f"ratio {ours / base:5.2f}", file=sys.stderr, flush=True)
    print(f"\n{'engine':9} {'op':7} {'procs':>5} {'ccs ops/s':>10} {'raw ops/s':>10} {'ccs/raw':>8}")
    for r in rows:
        print(f"{r['engine']:9} {r['op']:7} {r['processes']:>5} {r['ccs_ops_s']:>10.1f} "
              f"{r['raw_ops_s']:>10.1f} {r['ratio']:>8.2f}")
    report = {"seconds": args.seconds, "rounds": args.rounds, "cpus": os.cpu_count(), "rows": rows}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
