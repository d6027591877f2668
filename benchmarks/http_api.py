"""What HTTP costs: requests/s and p50/p99 latency of ``read`` and ``write_cas`` through a real
``ccs serve`` process (the stdlib client ``ccs.client.http``, one connection per request, N
client threads), against the same calls made directly on the library in this process, same
engine kind, same thread count, in the same run.

Each client thread works on its own artifact, so the numbers are the cost of the path, not of
contention. ``read`` through HTTP is a server-side cache hit after the first; ``write_cas`` reads
the current version and then compares-and-sets it.

Usage: ``python benchmarks/http_api.py [--engine sqlite|memory|redis] [--clients 4] [--requests 200]
[--seconds 20]``: each measurement stops after ``--requests`` per client or ``--seconds``,
whichever comes first. Prints a JSON document, then a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from ccs import CoherenceAdapterCore
from ccs.client.http import HttpClient
from ccs.server.spawn import spawned

REDIS = os.environ.get("CCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def engine_url(kind: str, tmp: str) -> str:
    tag = uuid.uuid4().hex[:10]
    return {"memory": "memory://", "sqlite": f"sqlite:///{tmp}/{tag}.db",
            "redis": f"{REDIS}?prefix=bench{tag}"}[kind]


def run_threads(clients: int, per: int, seconds: float,
                make_op: Callable[[int], Callable[[], None]]) -> dict:
    """``clients`` threads each calling their op up to ``per`` times or until the deadline."""
    ops = [make_op(i) for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[BaseException] = []
    start_gate = threading.Barrier(clients + 1)
    deadline = [0.0]

    def worker(i: int) -> None:
        start_gate.wait()
        try:
            for _ in range(per):
                if time.perf_counter() > deadline[0]:
                    return
                t0 = time.perf_counter()
                ops[i]()
                latencies[i].append(time.perf_counter() - t0)
        except BaseException as exc:  # reported, not hidden
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    deadline[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start_gate.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    flat = sorted(x for lat in latencies for x in lat)
    return {"requests": len(flat), "seconds": round(elapsed, 3),
            "req_per_s": round(len(flat) / elapsed, 1),
            "p50_ms": round(statistics.median(flat) * 1e3, 4),
            "p99_ms": round(flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1e3, 4)}


def measure(clients: int, per: int, seconds: float, tag: str,
            read: Callable[[int, str], int], cas: Callable[[int, str, int], None]) -> dict:
    """``read(i, artifact)`` returns the version it saw; ``cas(i, artifact, version)`` sets the
    next one. Client ``i`` works on artifact ``tag-i``."""
    def read_op(i: int) -> Callable[[], None]:
        return lambda: read(i, f"{tag}-{i}")

    def cas_op(i: int) -> Callable[[], None]:
        return lambda: cas(i, f"{tag}-{i}", read(i, f"{tag}-{i}"))

    return {"read": run_threads(clients, per, seconds, read_op),
            "write_cas": run_threads(clients, per, seconds, cas_op)}


def measure_http(url: str, token: str, clients: int, per: int, seconds: float) -> dict:
    tag = uuid.uuid4().hex[:6]
    http_clients = [HttpClient(url, token=token, agent=f"h{i}") for i in range(clients)]
    for i, c in enumerate(http_clients):
        c.write(f"{tag}-{i}", "0")
    return measure(clients, per, seconds, tag, lambda i, a: http_clients[i].read(a).version,
                   lambda i, a, v: http_clients[i].write_cas(a, v, str(v + 1)))


def measure_direct(engine: str, clients: int, per: int, seconds: float) -> dict:
    tag = uuid.uuid4().hex[:6]
    with CoherenceAdapterCore(engine) as core:
        agents = [core.agent(f"d{i}") for i in range(clients)]
        for i, a in enumerate(agents):
            a.write(f"{tag}-{i}", "0")
        return measure(clients, per, seconds, tag, lambda i, a: agents[i].snapshot(a).version,
                       lambda i, a, v: agents[i].commit_cas(a, v, str(v + 1)))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engine", default="sqlite", choices=["memory", "sqlite", "redis"])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--requests", type=int, default=200, help="per client and operation")
    p.add_argument("--seconds", type=float, default=20.0, help="cap per measurement")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        server_engine, direct_engine = engine_url(args.engine, tmp), engine_url(args.engine, tmp)
        with spawned(server_engine, token_file=Path(tmp) / "token") as srv:
            via_http = measure_http(srv.url, srv.token, args.clients, args.requests, args.seconds)
        direct = measure_direct(direct_engine, args.clients, args.requests, args.seconds)
        if args.engine == "redis":
            from ccs.backends import open_backend
            for url in (server_engine, direct_engine):
                backend = open_backend(url)
                backend.drop_all()
                backend.close()
    result = {"engine": args.engine, "clients": args.clients, "python": sys.version.split()[0],
              "cpus": os.cpu_count(), "http": via_http, "direct": direct}
    print(json.dumps(result, indent=2))
    print()
    print(f"{'path':8} {'op':10} {'requests':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for path in ("direct", "http"):
        for op in ("read", "write_cas"):
            r = result[path][op]
            print(f"{path:8} {op:10} {r['requests']:>8} {r['req_per_s']:>9} {r['p50_ms']:>8} "
                  f"{r['p99_ms']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
