"""Agents on different "hosts": Linux network namespaces on this machine, each with its own network
stack, joined to a database namespace by its own virtual cable (a veth pair on its own /30)::

    ccs-a-<tag>  eth0 10.213.N.2/30 ---- to-a 10.213.N.1/30 \\
                                                            ccs-db-<tag>: service 10.213.N.9/32 on lo,
    ccs-b-<tag>  eth0 10.213.N.6/30 ---- to-b 10.213.N.5/30 /  a PRIVATE redis-server / PostgreSQL

Agent processes run inside the host namespaces (``ip netns exec``) and reach the store only through
their cable, so cutting host A's cable is a real network partition, not a paused process. Each host
process reads JSON commands on stdin and answers on stdout (pipes cross namespaces, sockets do not).

Proved here, for Redis and PostgreSQL:
1. two hosts incrementing one counter with ``write_cas`` through the same URL lose nothing: every
   reported success is exactly one version, and the final value is their count;
2. a host that holds a grant and is partitioned past its heartbeat TTL is reclaimed by the other
   host's ``sweep()``; healed, its commit and write are refused by the store itself with
   ``GrantReclaimed`` although its cache still said it held the grant; the content is the
   successor's;
3. the healed host's bus delivers what it missed and its cache revalidates: a copy it had read is
   invalidated and the next read returns the other host's version.

Only addresses inside these namespaces are used; the root namespace and the shared services are
never touched. Teardown stops the servers, kills whatever is left in the namespaces and deletes them.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

IP = shutil.which("ip")
REDIS_SERVER = shutil.which("redis-server")
if not hasattr(os, "geteuid") or os.geteuid() != 0:
    pytest.skip("network namespaces (ip netns) need root", allow_module_level=True)
if IP is None or REDIS_SERVER is None:
    pytest.skip("needs the `ip` command (iproute2) and redis-server", allow_module_level=True)

REDIS_PORT = 6390
PG_PORT = 5440
HOST_TTL = 1.0  # heartbeat TTL of the agent that gets partitioned: short, and a real clock
ANSWER_TIMEOUT = 60.0  # upper bound on any one command a host process runs

HOST_SCRIPT = r'''
import json
import socket
import sys
import time
from urllib.parse import urlsplit

from ccs import CoherenceAdapterCore, CrashRecoveryConfig
from ccs.protocol.errors import BackendUnavailable, CoherenceError, RetriesExhausted
from ccs.protocol.ids import agent_name

url, ttl = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + 30
while True:  # the server may still be starting
    try:
        core = CoherenceAdapterCore(engine=url, crash_recovery=CrashRecoveryConfig(heartbeat_ttl=ttl))
        break
    except BackendUnavailable:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.1)


def reachable():
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=0.5):
            return True
    except OSError:
        return False


def run(cmd):
    op, aid = cmd["op"], cmd.get("artifact")
    agent = core.agent(cmd.get("agent", "probe"))
    if op == "write":
        return agent.write(aid, cmd["value"])
    if op == "acquire":
        return agent.acquire(aid)
    if op == "read":
        return agent.read(aid)
    if op == "commit":
        return agent.commit(aid, cmd["value"])
    if op == "state":
        return [agent.state(aid).value, agent.cached_version(aid)]
    if op == "increment":
        versions, exhausted = [], 0
        for _ in range(cmd["times"]):
            try:
                versions.append(agent.write_cas(aid, lambda v: (v or 0) + 1, retries=200))
            except RetriesExhausted:
                exhausted += 1
        return [versions, exhausted]
    if op == "sweep":
        return [[agent_name(n.agent), n.artifact, n.fenced_epoch, n.new_epoch] for n in core.sweep()]
    if op == "record":
        rec = core.coordinator.artifact(aid)
        return [rec.version, rec.epoch, agent_name(rec.updated_by)]
    if op == "reachable":
        return reachable()
    raise ValueError(op)


print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "quit":
        break
    try:
        reply = {"ok": run(cmd)}
    except CoherenceError as exc:
        reply = {"error": exc.code, "message": str(exc)}
    print(json.dumps(reply), flush=True)
core.close()
'''


def ip(*args: str) -> str:
    done = subprocess.run([IP, *args], capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


class Topology:
    """Three namespaces: ``db`` (the store) and hosts ``a`` and ``b``, each on its own veth pair."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.db, self.a, self.b = f"ccs-db-{tag}", f"ccs-a-{tag}", f"ccs-b-{tag}"
        net = f"10.213.{secrets.randbelow(254) + 1}"
        self.service = f"{net}.9"
        # host namespace -> (db-side address, host-side address, db-side link name)
        self.links = {self.a: (f"{net}.1", f"{net}.2", "to-a"), self.b: (f"{net}.5", f"{net}.6", "to-b")}
        self.created: list[str] = []

    def build(self) -> None:
        for ns in (self.db, self.a, self.b):
            ip("netns", "add", ns)
            self.created.append(ns)
        ip("-n", self.db, "link", "set", "lo", "up")
        ip("-n", self.db, "addr", "add", f"{self.service}/32", "dev", "lo")
        for host, (db_side, host_side, link) in self.links.items():
            ip("-n", host, "link", "set", "lo", "up")
            ip("-n", self.db, "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", host)
            ip("-n", self.db, "addr", "add", f"{db_side}/30", "dev", link)
            ip("-n", host, "addr", "add", f"{host_side}/30", "dev", "eth0")
            ip("-n", self.db, "link", "set", link, "up")
            ip("-n", host, "link", "set", "eth0", "up")
            ip("-n", host, "route", "add", f"{self.service}/32", "via", db_side)

    def partition(self, host: str) -> None:
        """Cut the host's cable at the database end: both ends lose carrier, nothing gets through."""
        ip("-n", self.db, "link", "set", self.links[host][2], "down")

    def heal(self, host: str) -> None:
        ip("-n", self.db, "link", "set", self.links[host][2], "up")

    def pids(self, ns: str) -> list[int]:
        try:
            return [int(p) for p in ip("netns", "pids", ns).split()]
        except (RuntimeError, ValueError, subprocess.TimeoutExpired):
            return []

    def destroy(self) -> None:
        for ns in reversed(self.created):
            for pid in self.pids(ns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(AssertionError):
                wait_until(lambda ns=ns: not self.pids(ns), 10, f"the processes in {ns} to die")
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                ip("netns", "del", ns)  # deleting a namespace deletes its veth ends (and their peers)
        self.created.clear()


def stop_process(proc: subprocess.Popen | None, sig: int, timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class NsRedis:
    """A private redis-server inside the db namespace, listening on the service address only."""

    kind = "redis"

    def __init__(self, topo: Topology, root: Path) -> None:
        self.topo, self.root, self.proc = topo, root, None
        self.log = root / "redis.log"

    def url(self, prefix: str) -> str:
        return f"redis://{self.topo.service}:{REDIS_PORT}/0?prefix={prefix}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [IP, "netns", "exec", self.topo.db, REDIS_SERVER, "--port", str(REDIS_PORT),
             "--bind", self.topo.service, "--protected-mode", "no", "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def describe(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else "(no log)"

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM)


def postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


class NsPostgres:
    """initdb into a temp dir, then run postgres as the postgres user inside the db namespace."""

    kind = "postgres"

    def __init__(self, topo: Topology) -> None:
        self.bin = postgres_bin()
        if self.bin is None or shutil.which("setpriv") is None:
            pytest.skip("PostgreSQL server binaries or setpriv are not installed")
        self.topo, self.proc = topo, None
        self.root = Path(tempfile.mkdtemp(prefix="ccs-netns-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.log = self.root / "postgres.log"

    @staticmethod
    def _as_postgres(argv: list[str]) -> list[str]:
        return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]

    def url(self, prefix: str) -> str:
        return f"postgresql://postgres@{self.topo.service}:{PG_PORT}/postgres?schema={prefix}"

    def start(self) -> None:
        subprocess.run(self._as_postgres([str(self.bin / "initdb"), "-D", str(self.root / "data"),
                                          "-A", "trust", "-U", "postgres"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=120)
        with open(self.root / "data" / "pg_hba.conf", "a", encoding="utf-8") as hba:
            hba.write("host all all 10.213.0.0/16 trust\n")  # the hosts' cables
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [IP, "netns", "exec", self.topo.db, *self._as_postgres(
                    [str(self.bin / "postgres"), "-D", str(self.root / "data"), "-p", str(PG_PORT),
                     "-k", str(self.root), "-c", f"listen_addresses={self.topo.service}",
                     "-c", "fsync=off"])],
                stdout=log, stderr=log)

    def describe(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else "(no log)"

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGINT, 30)  # fast shutdown
        shutil.rmtree(self.root, ignore_errors=True)


class Refused(Exception):
    def __init__(self, reply: dict) -> None:
        super().__init__(reply.get("message", ""))
        self.code = reply["error"]


class Host:
    """One agent process inside a host namespace, driven over its stdin/stdout."""

    def __init__(self, ns: str, url: str, script: Path, logs: Path, ttl: float = 30.0) -> None:
        self.ns = ns
        self.stderr_path = logs / f"{ns}-{secrets.token_hex(3)}.stderr"
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [IP, "netns", "exec", ns, sys.executable, str(script), url, str(ttl)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        try:
            self.ready = self._answer()
        except BaseException:
            self.close()
            raise

    def _pump(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def _answer(self) -> dict:
        try:
            line = self.lines.get(timeout=ANSWER_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"{self.ns}: no answer in {ANSWER_TIMEOUT:.0f}s; {self.stderr()}") from None
        if line is None:
            raise AssertionError(f"{self.ns}: the host process exited; {self.stderr()}")
        return json.loads(line)

    def stderr(self) -> str:
        return "stderr: " + self.stderr_path.read_text(errors="replace")[-3000:]

    def send(self, **cmd) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def result(self):
        reply = self._answer()
        if "error" in reply:
            raise Refused(reply)
        return reply["ok"]

    def call(self, **cmd):
        self.send(**cmd)
        return self.result()

    def attempt(self, **cmd) -> tuple[str, object]:
        try:
            return "landed", self.call(**cmd)
        except Refused as exc:
            return "refused", exc.code

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.send(op="quit")
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def topology():
    topo = Topology()
    try:
        topo.build()
        yield topo
    finally:
        topo.destroy()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("netns")
    (root / "host.py").write_text(HOST_SCRIPT, encoding="utf-8")
    return root


@pytest.fixture(scope="module", params=["redis", "postgres"])
def server(request, topology, workdir):
    srv = None
    try:
        srv = NsRedis(topology, workdir) if request.param == "redis" else NsPostgres(topology)
        srv.start()
        try:  # ready once a host reaches it through its cable (the host process retries for 30 s)
            Host(topology.a, srv.url("ready"), workdir / "host.py", workdir).close()
        except AssertionError as exc:
            raise AssertionError(f"private {srv.kind} in {topology.db} not reachable from "
                                 f"{topology.a}: {exc}\nserver log: {srv.describe()}") from None
        yield srv
    finally:
        if srv is not None:
            srv.stop()


@pytest.fixture
def hosts(topology, server, workdir):
    """Opens host processes on a fresh store (its own prefix / schema); closes them all after."""
    prefix = f"n{secrets.token_hex(5)}"
    url = server.url(prefix)
    opened: list[Host] = []

    def open_host(ns: str, ttl: float = 30.0) -> Host:
        host = Host(ns, url, workdir / "host.py", workdir, ttl)
        opened.append(host)
        return host

    try:
        yield open_host
    finally:
        for host in opened:
            host.close()


def test_two_hosts_increment_one_counter_and_lose_nothing(topology, hosts):
    a, b = hosts(topology.a), hosts(topology.b)
    times = 40
    for host, name in ((a, "alpha"), (b, "beta")):
        host.send(op="increment", agent=name, artifact="counter", times=times)
    versions_a, exhausted_a = a.result()
    versions_b, exhausted_b = b.result()
    versions = versions_a + versions_b
    # each reported success is one version of its own: none lost, none doubled
    assert sorted(versions) == list(range(1, len(versions) + 1))
    assert len(versions) + exhausted_a + exhausted_b == 2 * times
    assert versions_a and versions_b
    auditor = hosts(topology.b)
    assert auditor.call(op="read", agent="auditor", artifact="counter") == len(versions)
    assert auditor.call(op="record", artifact="counter")[0] == len(versions)


def test_partitioned_host_is_fenced_by_the_store_and_revalidates_after_healing(topology, hosts):
    a = hosts(topology.a, ttl=HOST_TTL)  # the host that will be cut off
    b = hosts(topology.b)
    assert b.call(op="write", agent="beta", artifact="notes", value="notes v1 by beta") == 1
    assert a.call(op="read", agent="alpha", artifact="notes") == "notes v1 by beta"
    assert a.call(op="write", agent="alpha", artifact="lease", value="v1 by alpha") == 1
    assert a.call(op="acquire", agent="alpha", artifact="lease") == "v1 by alpha"
    assert a.call(op="state", agent="alpha", artifact="lease") == ["M", 1]

    topology.partition(topology.a)
    healed = False
    try:
        assert a.call(op="reachable") is False, "the partition does not cut host A off"
        assert b.call(op="reachable") is True

        # Host B's sweep reclaims A's grant once A's heartbeat (real clock) has run out.
        notes: list = []

        def reclaimed() -> bool:
            notes.extend(b.call(op="sweep"))
            return any(n[0] == "alpha" for n in notes)

        wait_until(reclaimed, 30, "host B's sweep to reclaim host A's grant", interval=0.1)
        assert notes == [["alpha", "lease", 0, 1]]
        assert b.call(op="acquire", agent="beta", artifact="lease") == "v1 by alpha"
        assert b.call(op="commit", agent="beta", artifact="lease", value="v2 by beta") == 2
        assert b.call(op="write", agent="beta", artifact="notes", value="notes v2 by beta") == 2

        # Nothing reached A: its cache still says it owns the lease and has current notes.
        assert a.call(op="state", agent="alpha", artifact="lease") == ["M", 1]
        assert a.call(op="state", agent="alpha", artifact="notes") == ["S", 1]

        topology.heal(topology.a)
        healed = True
    finally:
        if not healed:
            topology.heal(topology.a)

    # The store refuses A's late commit and write under the reclaimed grant.
    assert a.attempt(op="commit", agent="alpha", artifact="lease", value="late commit") == (
        "refused", "grant_reclaimed")
    assert a.attempt(op="write", agent="alpha", artifact="lease", value="late write") == (
        "refused", "grant_reclaimed")

    # A's bus delivers what it missed (or resubscribes and resets): its copy of notes turns invalid
    # without A asking the store, and the next read returns B's version.
    wait_until(lambda: a.call(op="state", agent="alpha", artifact="notes")[0] == "I", 30,
               "host A's bus to invalidate its copy after healing", interval=0.1)
    assert a.call(op="read", agent="alpha", artifact="notes") == "notes v2 by beta"
    assert a.call(op="read", agent="alpha", artifact="lease") == "v2 by beta"

    auditor = hosts(topology.b)
    assert auditor.call(op="record", artifact="lease") == [2, 1, "beta"]
    assert auditor.call(op="read", agent="auditor", artifact="lease") == "v2 by beta"
