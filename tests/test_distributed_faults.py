"""Fault tests on PRIVATE Redis and PostgreSQL servers this test starts, kills and restarts itself
(the shared services are never touched): in the middle of a contended run the server dies
(SIGKILL / immediate shutdown) and comes back. No update may be lost and none doubled; a commit
whose reply was lost is resolved by its idempotency id. Afterwards the bus reconnects and tells
the clients to revalidate."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from ccs import CoherenceAdapterCore, Coordinator, Mesi, VersionConflict
from ccs.protocol.errors import BackendUnavailable

pytestmark = pytest.mark.slow

PG_BIN = Path("/usr/lib/postgresql/15/bin")
WORKERS = 3
OPS = 40  # per worker: one blind ledger write and one CAS increment each
RUN_SECONDS = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class PrivateRedis:
    """redis-server on its own port; AOF with fsync on every write, so a SIGKILL loses nothing
    that was acknowledged."""

    def __init__(self, root: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not installed")
        self.dir, self.port, self.proc = root, free_port(), None
        self.url = f"redis://127.0.0.1:{self.port}/0?prefix=fault"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.ready, 20, "private redis")

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def crash(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


class PrivatePostgres:
    """initdb into a temp dir and run it as the postgres user (it refuses to run as root)."""

    def __init__(self) -> None:
        if not (PG_BIN / "initdb").exists() or shutil.which("setpriv") is None:
            pytest.skip("PostgreSQL server binaries or setpriv are not installed")
        self.root = Path(tempfile.mkdtemp(prefix="ccs-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.port, self.proc = free_port(), None
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres?schema=fault"
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.root / "data"), "-A", "trust",
                           "-U", "postgres"], check=True)

    def _as_postgres(self, argv: list[str], **kw):
        cmd = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]
        if kw.pop("background", False):
            return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)

    def start(self) -> None:
        self.proc = self._as_postgres(
            [str(PG_BIN / "postgres"), "-D", str(self.root / "data"), "-p", str(self.port),
             "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=on"],
            background=True)
        wait_until(self.ready, 30, "private postgres")

    def ready(self) -> bool:
        import psycopg
        try:
            with psycopg.connect(self.url.split("?")[0], connect_timeout=1):
                return True
        except psycopg.Error:
            return False

    def crash(self) -> None:
        self.proc.send_signal(signal.SIGQUIT)  # immediate shutdown: crash recovery on restart
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(30)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(params=["redis", "postgres"])
def server(request, tmp_path):
    srv = PrivateRedis(tmp_path) if request.param == "redis" else PrivatePostgres()
    srv.start()
    yield srv
    srv.stop()


def until_answered(call, deadline: float, stats: dict) -> object:
    """Retry ``call`` through an outage; the caller keeps the same commit id on every try."""
    while True:
        try:
            return call()
        except BackendUnavailable:
            stats["unavailable"] += 1
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def contended_run(url: str, stats: dict, done: list, errors: list) -> None:
    deadline = time.monotonic() + RUN_SECONDS

    def worker(i: int) -> None:
        try:
            coord = Coordinator(url, bus="memory://")
            for n in range(OPS):
                cid = f"w{i}-{n}"
                c = until_answered(lambda cid=cid: coord.write(
                    f"w{i}", "ledger", None, None, (cid.encode(), "bytes"), commit_id=cid), deadline, stats)
                done.append(("ledger", cid, c.duplicate))
                for attempt in range(1000):
                    view, data = until_answered(lambda: coord.read(f"w{i}", "counter"), deadline, stats)
                    value = int(data or b"0")
                    ccid = f"w{i}-{n}-cas{attempt}"
                    try:
                        c = until_answered(lambda v=view.version, x=value, ccid=ccid: coord.commit_cas(
                            f"w{i}", "counter", v, None, (str(x + 1).encode(), "bytes"), commit_id=ccid),
                            deadline, stats)
                    except VersionConflict:
                        continue
                    done.append(("counter", ccid, c.duplicate))
                    break
            coord.close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(RUN_SECONDS + 30)


def test_server_crash_mid_run_loses_and_doubles_nothing(server):
    Coordinator(server.url, bus="memory://").close()  # schema first
    stats, done, errors = {"unavailable": 0}, [], []
    runner = threading.Thread(target=contended_run, args=(server.url, stats, done, errors))
    runner.start()
    wait_until(lambda: len(done) >= WORKERS * OPS // 2 or not runner.is_alive(), 60, "half the run")
    server.crash()
    at_crash = len(done)
    time.sleep(0.5)  # clients keep trying while it is down
    server.start()
    runner.join(RUN_SECONDS + 60)
    assert not errors, errors
    assert at_crash < 2 * WORKERS * OPS, "the run was over before the crash"

    ledger = [d for d in done if d[0] == "ledger"]
    counter = [d for d in done if d[0] == "counter"]
    assert len(ledger) == len({d[1] for d in ledger}) == WORKERS * OPS
    assert len(counter) == WORKERS * OPS
    coord = Coordinator(server.url, bus="memory://")
    try:
        # every ledger commit counted exactly once: none lost, none applied twice
        assert coord.artifact("ledger").version == WORKERS * OPS
        rec = coord.artifact("counter")
        assert rec.version == WORKERS * OPS
        assert int(coord.content_at("counter")) == WORKERS * OPS
    finally:
        coord.close()


class ReplyDroppingProxy:
    """A TCP proxy in front of the server. Armed, it forwards the client's commit (the first chunk
    holding ``trigger`` after one holding ``marker``, in one transaction) and then cuts the
    connection without relaying the server's reply: the commit lands, the client never hears it."""

    def __init__(self, port: int, marker: bytes, trigger: bytes) -> None:
        self.target, self.marker, self.trigger = port, marker, trigger
        self.armed, self.dropped = threading.Event(), 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            cut = threading.Event()  # set: the server's replies on this connection are lost
            threading.Thread(target=self._pump, args=(client, upstream, cut, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, cut, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, cut: threading.Event, from_client: bool) -> None:
        seen = False
        try:
            while data := src.recv(65536):
                if not from_client:
                    if cut.is_set():
                        break
                    dst.sendall(data)
                    continue
                seen = seen or self.marker in data
                if self.trigger in data and not (seen and self.armed.is_set()):
                    seen = False  # some other transaction ended
                elif self.trigger in data:
                    self.armed.clear()
                    self.dropped += 1
                    cut.set()
                    dst.sendall(data)
                    time.sleep(0.3)  # let the server apply it; its reply goes nowhere
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.sock.close()


def test_lost_reply_is_resolved_by_commit_id(server):
    """The commit lands but its reply never arrives: the client cannot know, says so with
    ``BackendUnavailable``, and the retry with the same idempotency id reports the commit once."""
    # PostgreSQL: the Sync that ends the commit's message (one statement, an implicit transaction,
    # or the pipeline flush that ends in COMMIT); Redis: the commit script
    trigger = b"EVAL" if isinstance(server, PrivateRedis) else b"S\x00\x00\x00\x04"
    proxy = ReplyDroppingProxy(server.port, marker=b'"id":"doc"', trigger=trigger)
    proxied = server.url.replace(f":{server.port}/", f":{proxy.port}/")
    direct, coord = Coordinator(server.url, bus="memory://"), Coordinator(proxied, bus="memory://")
    core = CoherenceAdapterCore(coordinator=Coordinator(proxied, bus="memory://"))
    try:
        assert coord.write("a", "doc", 0, None, (b"first", "bytes")).version == 1
        proxy.armed.set()
        with pytest.raises(BackendUnavailable) as unknown:
            coord.write("a", "doc", 1, None, (b"second", "bytes"), commit_id="only-once")
        assert proxy.dropped == 1 and "outcome unknown" in str(unknown.value)
        assert direct.artifact("doc").version == 2  # it did land
        again = coord.write("a", "doc", 1, None, (b"second", "bytes"), commit_id="only-once")
        assert (again.version, again.duplicate) == (2, True)

        agent = core.agent("a")  # the agent API retries by itself with the same id
        agent.read("doc")
        proxy.armed.set()
        assert agent.write("doc", b"third") == 3
        assert proxy.dropped == 2
        assert direct.artifact("doc").version == 3 and direct.content_at("doc") == b"third"
    finally:
        for c in (core, coord, direct):
            c.close()
        proxy.close()


def test_bus_reconnects_after_restart_and_clients_revalidate(server):
    writer_core = CoherenceAdapterCore(engine=server.url)
    reader_core = CoherenceAdapterCore(engine=server.url)
    try:
        bus = reader_core.coordinator.bus
        writer, reader = writer_core.agent("writer"), reader_core.agent("reader")
        writer.write("plan", "v1")
        assert reader.read("plan") == "v1" and reader.state("plan") is Mesi.SHARED
        resets = bus.resets
        server.crash()
        server.start()
        until_answered(lambda: writer.write("plan", "v2"), time.monotonic() + 30, {"unavailable": 0})
        wait_until(lambda: bus.resets > resets, 30, "the bus to resubscribe")
        wait_until(lambda: reader.state("plan") is Mesi.INVALID, 30, "the reset to reach the cache")
        assert until_answered(lambda: reader.read("plan"), time.monotonic() + 30, {"unavailable": 0}) == "v2"
    finally:
        writer_core.close()
        reader_core.close()


@pytest.mark.parametrize("engine", ["postgres", "redis"])
def test_blob_lost_before_its_record_commits_is_stored_again(engine, tmp_path):
    """Content stored ahead of its record and lost before the record's commit (a crash before the
    blob's write was durable) is stored again by that commit, which carries the bytes; a
    transaction that changes nothing stores nothing."""
    from ccs.protocol.records import ArtifactRecord, Content
    from conformance.conftest import Store

    store = Store(engine, tmp_path)
    try:
        backend = store.backend()
        backend.put_blob("d" * 64, b"precious")
        assert backend.delete_blobs(["d" * 64]) == 1  # lost
        record = ArtifactRecord("doc", version=1, content=Content("d" * 64, 8, "bytes"))
        backend.transact(["a/doc"], lambda r: ({"a/doc": record}, None), {"d" * 64: b"precious"})
        assert store.backend().get_blob("d" * 64) == b"precious"
        backend.transact(["a/doc"], lambda r: ({}, None), {"e" * 64: b"unused"})
        assert backend.get_blob("e" * 64) is None
    finally:
        store.cleanup()
