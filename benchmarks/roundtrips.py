"""Round trips per operation on the networked engines, counted on the wire.

A counting TCP proxy sits between this process and the server (PostgreSQL or Redis). A round
trip is a point where the client waits for the server. Redis (redis-py): every flush of
commands is followed by reading their replies, so a turn of the conversation (a client chunk
that follows a server chunk) is one round trip, however many commands it pipelines. PostgreSQL
(psycopg in pipeline mode sends statements as they are queued, without waiting): the proxy
parses the protocol and counts the messages after which the client waits (Sync, Flush, a
simple Query), several of them sent before any reply counting once. The engine's and the bus's
connections both go through the proxy, so a PUBLISH or NOTIFY on its own connection counts too.

Measured, per operation, in a steady state (the averages over ``--ops`` operations; the periodic
sweep and the heartbeat thread are held off during the count):

* ``owner_commit``: the same agent writes the same artifact again (``Agent.write``); an idle
  sharer holds a copy, so every commit also invalidates it (an event to publish);
* ``owner_commit_no_sharer``: the same, nobody else holds a copy (no event);
* ``write_cas``: ``Agent.write_cas`` on a counter the agent has cached (no conflict);
* ``read_hit``: a read served from the agent's cache (expected: 0);
* ``read_miss``: a read after a peer's commit (the record, then the content).

Usage: ``python benchmarks/roundtrips.py [--engines postgres,redis] [--ops 200] [--json out.json]``.
Service URLs: CCS_TEST_POSTGRES_DSN / CCS_TEST_REDIS_URL. Timing is not measured here (the
proxy adds latency); see engines.py for throughput.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import threading
import uuid
from urllib.parse import urlsplit, urlunsplit

PG = os.environ.get("CCS_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("CCS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class CountingProxy:
    """Forwards every connection to ``host:port`` and counts client turns over all of them."""

    def __init__(self, host: str, port: int, postgres: bool) -> None:
        self.target = (host, port)
        self.postgres = postgres
        self.turns = 0
        self._lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            state = {"client_turn": False, "buf": b"", "typed": False, "waiting": False}
            threading.Thread(target=self._pump, args=(client, upstream, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, state, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict, up: bool) -> None:
        try:
            while data := src.recv(1 << 16):
                if not up:
                    state["waiting"] = False
                elif self.postgres:
                    waits = _pg_waits(state, data)
                    if waits:
                        with self._lock:
                            self.turns += waits
                elif not state["client_turn"]:
                    with self._lock:
                        self.turns += 1
                state["client_turn"] = up
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()

    def close(self) -> None:
        self.sock.close()


_PG_WAIT = {ord("S"), ord("H"), ord("Q")}  # Sync, Flush, simple Query


def _pg_waits(state: dict, data: bytes) -> int:
    """Waits the client's PostgreSQL messages in ``data`` start (0 or 1 per server reply)."""
    buf = state["buf"] + data
    waits = 0
    while True:
        if not state["typed"]:  # startup, SSL/GSS requests: int32 length, no type byte
            if len(buf) < 4:
                break
            n = int.from_bytes(buf[:4], "big")
            if len(buf) < n:
                break
            code = int.from_bytes(buf[4:8], "big")
            buf = buf[n:]
            if code not in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                state["typed"] = True
            continue
        if len(buf) < 5:
            break
        n = int.from_bytes(buf[1:5], "big")
        if len(buf) < n + 1:
            break
        if buf[0] in _PG_WAIT and not state["waiting"]:
            waits += 1
            state["waiting"] = True
        buf = buf[n + 1:]
    state["buf"] = buf
    return waits


def via_proxy(url: str) -> tuple[str, CountingProxy]:
    parts = urlsplit(url)
    postgres = parts.scheme.startswith("postgres")
    proxy = CountingProxy(parts.hostname or "127.0.0.1", parts.port or (5432 if postgres else 6379),
                          postgres)
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{auth}127.0.0.1:{proxy.port}")), proxy


def engine_url(engine: str, tag: str, base: str | None = None) -> str:
    base = base or (PG if engine == "postgres" else REDIS)
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}{'schema' if engine == 'postgres' else 'prefix'}=rt_{tag}"


def count(proxy: CountingProxy, op, n: int) -> float:
    for i in range(20):  # warm: pooled connections open, heartbeat records written
        op(i)
    before = proxy.turns
    for i in range(n):
        op(i)
    return round((proxy.turns - before) / n, 3)


def measure(engine: str, n: int, base: str | None = None) -> dict:
    """Round trips per operation on ``engine`` (its service at ``base``, default from the
    environment), averaged over ``n`` operations of each kind."""
    from ccs import CoherenceAdapterCore, CrashRecoveryConfig

    tag = uuid.uuid4().hex[:8]
    url, proxy = via_proxy(engine_url(engine, tag, base))
    out: dict[str, float] = {}
    # Crash recovery stays on (liveness records are written as usual); only the periodic sweep
    # (one bulk read every 5 s) and the heartbeat thread are held off, so that the count is of
    # the operations themselves whatever the run's duration.
    core = CoherenceAdapterCore(url, crash_recovery=CrashRecoveryConfig(
        sweep_interval=3600.0, auto_heartbeat=False))
    try:
        owner, idle, reader = core.agent("owner"), core.agent("idle"), core.agent("reader")
        owner.write("doc", "v0")
        idle.read("doc")
        out["owner_commit"] = count(proxy, lambda i: (owner.write("doc", f"v{i}"), idle.read("doc")), n)
        # the idle agent's re-read is one more read miss per commit: subtract it, measured alone
        owner.write("solo", "v0")
        out["owner_commit_no_sharer"] = count(proxy, lambda i: owner.write("solo", f"v{i}"), n)
        owner.write("counter", 0)
        out["write_cas"] = count(proxy, lambda i: owner.write_cas("counter", lambda v: v + 1), n)
        reader.read("doc")
        out["read_hit"] = count(proxy, lambda i: reader.read("doc"), n)

        def miss(i: int) -> None:
            owner.write("doc", f"m{i}")
            before = proxy.turns
            reader.read("doc")
            miss.turns += proxy.turns - before
        miss.turns = 0
        for i in range(n):
            miss(i)
        out["read_miss"] = round(miss.turns / n, 3)
        # owner_commit measured a commit plus the idle sharer's re-read (a read miss)
        out["owner_commit"] = round(out["owner_commit"] - out["read_miss"], 3)
    finally:
        core.close()
        _drop(engine, engine_url(engine, tag, base))
        proxy.close()
    return out


def _drop(engine: str, url: str) -> None:
    if engine == "postgres":
        import psycopg

        from ccs.backends.postgres import parse_postgres_url
        conninfo, schema, _ = parse_postgres_url(url)
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    else:
        from ccs.backends.redis import RedisBackend

        backend = RedisBackend(url)
        backend.drop_all()
        backend.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default="postgres,redis")
    ap.add_argument("--ops", type=int, default=200)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    rows = {engine: measure(engine, args.ops) for engine in args.engines.split(",")}
    ops = list(next(iter(rows.values())))
    print(f"{'round trips per op':24}" + "".join(f"{e:>10}" for e in rows))
    for op in ops:
        print(f"{op:24}" + "".join(f"{rows[e][op]:>10.2f}" for e in rows))
    report = {"ops": args.ops, "round_trips": rows}
    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
