"""Garbage collection never removes content that a record or a commit in flight references.

On every engine: ``gc()`` forced into each window of a commit (after its content was prepared,
inside its transaction) and a commit forced into GC's window (records scanned, nothing deleted
yet), with the content's age past the horizon or ``min_age=0``; then threads and a second process
committing identical and distinct contents while GC runs without pause. Afterwards every current
and retained version reads back. Nothing here asserts a duration: a wait that times out only lets
the other side run first, and the outcome must be right either way.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import threading
import time

import msgspec.structs
import pytest

from ccs import CoherenceAdapterCore, CoherenceError, failpoints
from ccs.coordinator.config import Limits
from ccs.protocol.errors import InvalidRequest
from ccs.protocol.records import ArtifactRecord, Content

OTHER_WRITES = 12  # with retain_versions=8, the first version falls out of the retained history
GRACE = 0.5  # seconds a side waits for the other before it goes on (it may be blocked, by design)
HORIZON = 3600.0


def age_all_content(store, backend) -> None:
    """Make every stored blob look older than any GC horizon."""
    if store.kind == "memory":
        for digest in list(backend._blob_times):
            backend._blob_times[digest] = 0.0
    elif store.kind == "sqlite":
        import sqlite3
        with sqlite3.connect(backend.path) as conn:
            conn.execute("UPDATE ccs_blobs SET stored_at = 0")
    elif store.kind == "postgres":
        import psycopg
        with psycopg.connect(backend.conninfo, autocommit=True) as conn:
            conn.execute(f'UPDATE "{backend.schema}".blobs SET stored_at = 0')
    else:
        from ccs.backends.redis import connect
        client, prefix = connect(store.url)
        key = "{" + prefix + "}:bt"
        digests = client.zrange(key, 0, -1)
        if digests:
            client.zadd(key, dict.fromkeys(digests, 0), xx=True)
        client.close()


def history_of_open(store):
    """'open', then enough other writes that 'open' is referenced by no record any more."""
    core = store.core()
    writer = core.agent("writer")
    writer.write("doc", "open")
    for i in range(OTHER_WRITES):
        writer.write("doc", f"edit {i}")
    coord = core.coordinator
    assert all(v != 1 for v, _ in coord.artifact("doc").history)
    return writer, coord


def assert_all_content_readable(store, *artifacts: str) -> None:
    """Every artifact's current and retained content reads back, from a fresh client."""
    core = store.core()
    reader = core.agent("auditor")
    for aid in artifacts:
        reader.read(aid)  # raises corrupt_state if the current content is gone
        rec = core.coordinator.artifact(aid)
        for version, _ in rec.history:
            assert core.coordinator.content_at(aid, version) is not None, (aid, version)


def once_here(fn):
    """A failpoint callback that runs ``fn`` once, in this thread only (not, say, a heartbeat's)."""
    me, fired = threading.current_thread(), []

    def callback(**_):
        if threading.current_thread() is me and not fired:
            fired.append(True)
            fn()

    return callback


def in_thread(fn) -> threading.Thread:
    """Run ``fn`` in a thread and give it GRACE seconds; it may be blocked by the caller's locks."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.errors = errors
    t.start()
    t.join(GRACE)
    return t


def finish(t: threading.Thread) -> None:
    t.join(60)
    assert not t.is_alive()
    if t.errors:
        raise t.errors[0]


@pytest.mark.parametrize("aged", [True, False], ids=["aged-past-horizon", "min_age-0"])
def test_gc_between_storing_content_and_committing_the_record(store, aged):
    """Issue 10, item 2: the write of 'open' again, with GC run after its content was prepared
    and before its record transaction: the write lands and 'open' stays readable."""
    writer, coord = history_of_open(store)
    gc_coord = store.coordinator()  # GC from another client, as another process would
    min_age = HORIZON if aged else 0.0
    if aged:
        age_all_content(store, coord.backend)
    with failpoints.arm("coordinator.before_transact", once_here(lambda: gc_coord.gc(min_age=min_age))):
        version = writer.write("doc", "open")
    assert version == OTHER_WRITES + 2
    assert store.core().agent("fresh").read("doc") == "open"
    assert_all_content_readable(store, "doc")


@pytest.mark.parametrize("aged", [True, False], ids=["aged-past-horizon", "min_age-0"])
def test_gc_during_the_commit_transaction(store, aged):
    """GC started while the commit's transaction has read its records but written nothing."""
    writer, coord = history_of_open(store)
    gc_coord = store.coordinator()
    min_age = HORIZON if aged else 0.0
    if aged:
        age_all_content(store, coord.backend)
    gc: list[threading.Thread] = []
    with failpoints.arm("backend.before_write",
                        once_here(lambda: gc.append(in_thread(lambda: gc_coord.gc(min_age=min_age))))):
        writer.write("doc", "open")
    finish(gc[0])
    assert store.core().agent("fresh").read("doc") == "open"
    assert_all_content_readable(store, "doc")


def test_commit_while_gc_has_scanned_but_not_deleted(store):
    """A commit of unreferenced old content that lands between GC's scan and its delete."""
    writer, coord = history_of_open(store)
    gc_coord = store.coordinator()
    age_all_content(store, coord.backend)
    commit: list[threading.Thread] = []
    with failpoints.arm("backend.gc.before_delete",
                        once_here(lambda: commit.append(in_thread(lambda: writer.write("doc", "open"))))):
        gc_coord.gc(min_age=HORIZON)
    finish(commit[0])
    assert store.core().agent("fresh").read("doc") == "open"
    assert_all_content_readable(store, "doc")
    gc_coord.gc(min_age=0)  # and a collection with nothing in flight keeps it too
    assert_all_content_readable(store, "doc")


def test_gc_still_collects_unreferenced_content(store):
    _, coord = history_of_open(store)
    stored = coord.backend.blob_digests()
    assert coord.gc(min_age=0) == len(stored) - 9  # the current version and 8 retained ones stay
    assert_all_content_readable(store, "doc")


def test_a_record_gets_content_only_together_with_its_bytes(store):
    """The engine refuses a change that would reference content it is not given to store."""
    b = store.backend()
    digest = "d" * 64
    rec = ArtifactRecord("doc", version=1, content=Content(digest, 3, "bytes"))
    b.put_blob(digest, b"abc")  # stored earlier is not enough: a collection may come between
    with pytest.raises(InvalidRequest):
        b.transact(["a/doc"], lambda r: ({"a/doc": rec}, None))
    assert b.get("a/doc") is None
    b.delete_blobs([digest])
    b.transact(["a/doc"], lambda r: ({"a/doc": rec}, None), {digest: b"abc"})
    assert b.get_blob(digest) == b"abc"
    again = msgspec.structs.replace(rec, seq=1)  # the content it already references needs no bytes
    b.transact(["a/doc"], lambda r: ({"a/doc": again}, None))
    assert b.get("a/doc").seq == 1


def test_put_blob_refreshes_the_stored_time(store):
    b = store.backend()
    b.put_blob("d" * 64, b"abc")
    age_all_content(store, b)
    assert b.blob_digests(stored_before=time.time() - HORIZON) == {"d" * 64}
    b.put_blob("d" * 64, b"abc")
    assert b.blob_digests(stored_before=time.time() - HORIZON) == set()
    assert store.coordinator().gc(min_age=HORIZON) == 0 and b.get_blob("d" * 64) == b"abc"


# --- under load ------------------------------------------------------------------------------

LOAD_THREADS = 3
LOAD_ROUNDS = 60  # commits per writer
LOAD_SECONDS = 20.0
SHARED_CONTENTS = [f"shared content {i}" for i in range(4)]  # identical across artifacts
LIMITS = Limits(retain_versions=2)  # content falls out of every record quickly


def write_and_check(core, name: str, deadline: float, seed: int) -> list[str]:
    """Commit identical and distinct contents to this writer's own artifact; after each commit,
    its current and retained versions must read back (nobody else writes them)."""
    problems: list[str] = []
    rng = random.Random(seed)
    agent, coord = core.agent(name), core.coordinator
    written: dict[int, bytes] = {}
    for i in range(LOAD_ROUNDS):
        if time.monotonic() > deadline:
            break
        value = rng.choice(SHARED_CONTENTS) if rng.random() < 0.7 else f"{name} only {i}"
        try:
            version = agent.write(name, value)
            written[version] = value.encode()
            rec = coord.artifact(name)
            for v in [rec.version, *(v for v, _ in rec.history)]:
                if coord.content_at(name, v) != written[v]:
                    problems.append(f"{name} v{v} lost its content")
        except CoherenceError as exc:
            problems.append(f"{name}: {exc.code}: {exc}")
    return problems


def collect_continuously(coord, stop: threading.Event, deadline: float) -> list[str]:
    problems: list[str] = []
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            coord.gc(min_age=0)
        except CoherenceError as exc:
            if exc.details.get("reason") != "contention":  # Redis: GC lost every race, retry
                problems.append(f"gc: {exc.code}: {exc}")
        stop.wait(0.001)  # lets SQLite writers in: a waiting writer polls the lock, GC would not
    return problems


def process_worker(url: str, name: str, seed: int, out: str, ready, go) -> None:
    """Another process: one writer and one collector, like the parent's threads."""
    stop = threading.Event()
    with CoherenceAdapterCore(engine=url, limits=LIMITS) as core:
        ready.set()
        go.wait(60)
        deadline = time.monotonic() + LOAD_SECONDS
        gc_problems: list[str] = []
        gc = threading.Thread(target=lambda: gc_problems.extend(
            collect_continuously(core.coordinator, stop, deadline)))
        gc.start()
        try:
            problems = write_and_check(core, name, deadline, seed)
        finally:
            stop.set()
            gc.join()
    with open(out, "w") as f:
        json.dump(problems + gc_problems, f)


@pytest.mark.slow
def test_gc_running_continuously_while_threads_and_processes_commit(store, tmp_path, fine_grained_switching):
    coord = store.coordinator(limits=LIMITS)
    names = [f"w{i}" for i in range(LOAD_THREADS)]
    cores = {n: store.core(limits=LIMITS) for n in names}
    proc = out = None
    if store.shared:
        out = str(tmp_path / "child.json")
        ctx = multiprocessing.get_context("spawn")
        ready, go = ctx.Event(), ctx.Event()
        proc = ctx.Process(target=process_worker, args=(store.url, "child", 99, out, ready, go))
        proc.start()
        assert ready.wait(60)
        go.set()
    deadline = time.monotonic() + LOAD_SECONDS
    stop = threading.Event()
    results: dict[str, list[str]] = {}
    gc = threading.Thread(target=lambda: results.__setitem__(
        "gc", collect_continuously(coord, stop, deadline + 30)))
    gc.start()
    writers = [threading.Thread(target=lambda n=n, s=s: results.__setitem__(
        n, write_and_check(cores[n], n, deadline, s))) for s, n in enumerate(names)]
    try:
        for t in writers:
            t.start()
        for t in writers:
            t.join(LOAD_SECONDS + 60)
    finally:
        stop.set()
        gc.join(60)
        if proc is not None:
            proc.join(LOAD_SECONDS + 60)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    problems = [p for n in [*names, "gc"] for p in results.get(n, [f"{n} did not finish"])]
    if proc is not None:
        assert proc.exitcode == 0
        with open(out) as f:
            problems += json.load(f)
        names.append("child")
    assert problems == []
    coord.gc(min_age=0)
    assert_all_content_readable(store, *names)
