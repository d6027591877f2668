"""Real processes on one SQLite file, one of them SIGKILLed mid-run; merged histories checked."""

import multiprocessing
import os
import signal
import sqlite3
import time

import pytest

from ccs import CoherenceAdapterCore
from ccs.history import (
    FAIL,
    PENDING,
    Recorder,
    cas_winners,
    check,
    load_history,
    lost_updates,
    successful_commits,
    workload,
)

pytestmark = pytest.mark.slow

WORKERS = 3
WORKER_OPS = 120  # per surviving process; each op is one increment, with bounded retries
WORKER_SECONDS = 12.0
PAUSE = 0.002  # up to 2 ms between read and commit, so processes really interleave
VICTIM_LINES = 40  # history lines the victim writes before it is killed (about 12 operations)


def lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def test_processes_with_one_sigkilled_lose_nothing(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    CoherenceAdapterCore(engine=url).close()  # create the schema before the race starts
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WORKERS + 2)  # every process, and this one
    paths = [str(tmp_path / f"history-{i}.jsonl") for i in range(WORKERS + 1)]
    victim = ctx.Process(target=workload.process_worker,
                         args=(url, "victim", paths[0], "counter", 100_000, 60.0, start, PAUSE))
    workers = [ctx.Process(target=workload.process_worker,
                           args=(url, f"p{i}", paths[i], "counter", WORKER_OPS, WORKER_SECONDS, start, PAUSE))
               for i in range(1, WORKERS + 1)]
    procs = [victim, *workers]
    try:
        for p in procs:
            p.start()
        start.wait(60)
        deadline = time.monotonic() + 20
        while lines(paths[0]) < VICTIM_LINES and victim.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert victim.is_alive(), f"victim exited early with {victim.exitcode}"
        os.kill(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic_ns()  # the clock the histories are stamped with
        for p in procs:
            p.join(WORKER_SECONDS + 15)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
    assert victim.exitcode == -signal.SIGKILL
    assert [p.exitcode for p in workers] == [0] * WORKERS

    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    audit = Recorder(tmp_path / "audit.jsonl")
    with CoherenceAdapterCore(engine=url) as core:  # the file still opens after the kill
        final = workload.read(core.agent("auditor"), audit, "counter")
    audit.close()

    ops = load_history(*paths, tmp_path / "audit.jsonl")
    victim_ops = [o for o in ops if o.client == "victim"]
    in_flight = [o for o in victim_ops if o.status == PENDING]
    assert len(victim_ops) >= VICTIM_LINES // 3 and len(in_flight) <= 1
    assert all(o.status != PENDING for o in ops if o.client != "victim")

    landed = len(successful_commits(ops, "counter"))
    maybe = sum(o.op != "read" for o in in_flight)  # the killed process's commit may have landed
    assert final.value == final.version
    assert landed <= final.value <= landed + maybe
    assert any(o.invoke > killed_at for o in successful_commits(ops)), "nobody committed after the kill"
    assert any(o.status == FAIL for o in ops), "no write was ever refused: the run had no contention"
    assert lost_updates(ops, final={"counter": (final.version, final.value)}) == []
    assert all(len(w) <= 1 for w in cas_winners(ops).values())
    result = check(ops, budget=20)
    assert result.result == "ok", result
