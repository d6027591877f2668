"""Real processes on one store (sqlite, postgres, redis): merged histories checked for
linearizability, lost updates and CAS winners; the final counter equals the successes."""

from __future__ import annotations

import multiprocessing

import pytest

from ccs import CoherenceAdapterCore
from ccs.history import (
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
WORKER_OPS = 30  # increments per process, each with bounded retries
WORKER_SECONDS = 30.0


def test_processes_incrementing_one_counter(shared_store, tmp_path):
    url = shared_store.url
    CoherenceAdapterCore(engine=url).close()  # create the schema before the race starts
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WORKERS + 1)
    paths = [str(tmp_path / f"history-{i}.jsonl") for i in range(WORKERS)]
    procs = [ctx.Process(target=workload.process_worker,
                         args=(url, f"p{i}", paths[i], "counter", WORKER_OPS, WORKER_SECONDS, start))
             for i in range(WORKERS)]
    try:
        for p in procs:
            p.start()
        start.wait(60)
        for p in procs:
            p.join(WORKER_SECONDS + 30)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(5)
    assert [p.exitcode for p in procs] == [0] * WORKERS

    with Recorder(tmp_path / "audit.jsonl") as audit, CoherenceAdapterCore(engine=url) as core:
        final = workload.read(core.agent("auditor"), audit, "counter")
    ops = load_history(*paths, tmp_path / "audit.jsonl")
    assert all(o.status != PENDING for o in ops)
    landed = len(successful_commits(ops, "counter"))
    assert final.value == final.version == landed
    assert landed >= WORKERS * WORKER_OPS * 0.8
    assert lost_updates(ops, final={"counter": (final.version, final.value)}) == []
    assert all(len(w) <= 1 for w in cas_winners(ops).values())
    result = check(ops, budget=20)
    assert result.result == "ok", result
