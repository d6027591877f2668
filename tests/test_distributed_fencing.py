"""Cross-process fencing on a shared PostgreSQL / Redis: a writer paused (SIGSTOP) while the sweep
of another process reclaims its grant is refused at commit by the store itself, although its own
local state still says it owns the artifact (it hears no bus: nothing told it)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import pytest

from ccs import CoherenceAdapterCore, CrashRecoveryConfig, GrantReclaimed, ManualClock
from ccs.bus.memory import MemoryBus
from ccs.protocol.ids import agent_name
from conformance.conftest import Store

pytestmark = pytest.mark.slow


def victim(url: str, conn) -> None:
    """Takes the grant, reports, waits to be paused and resumed, then tries to commit under it."""
    cr = CrashRecoveryConfig(heartbeat_ttl=30.0)
    with CoherenceAdapterCore(engine=url, bus=MemoryBus(), crash_recovery=cr) as core:
        agent = core.agent("victim")
        agent.write("lease", "v1 by victim")
        agent.acquire("lease")
        conn.send(("holding", agent.state("lease").value, agent.cached_version("lease")))
        conn.recv()  # "go": sent after the reclaim, while this process was stopped
        results = {"state_before": agent.state("lease").value}
        for op, call in (("commit", lambda: agent.commit("lease", "late commit")),
                         ("write", lambda: agent.write("lease", "late write")),
                         ("cas", lambda: agent.commit_cas("lease", 1, "late cas"))):
            try:
                results[op] = ("landed", call())
            except Exception as exc:
                results[op] = ("refused", getattr(exc, "code", type(exc).__name__))
        conn.send(results)


@pytest.mark.parametrize("engine", ["postgres", "redis"])
def test_paused_writer_reclaimed_by_another_process_cannot_land(engine, tmp_path):
    store = Store(engine, tmp_path)
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=victim, args=(store.url, there))
    try:
        proc.start()
        assert here.poll(60), "victim did not start"
        status, state, version = here.recv()
        assert (status, state, version) == ("holding", "M", 1)
        os.kill(proc.pid, signal.SIGSTOP)  # a GC pause, a frozen VM, a partition...

        # Another host: its clock is an hour on, so the victim's heartbeat has long run out.
        clock = ManualClock(time.time() + 3600)
        sweeper = store.core(clock=clock, crash_recovery=CrashRecoveryConfig(heartbeat_ttl=30.0))
        notes = sweeper.sweep()
        assert [(agent_name(n.agent), n.artifact, n.fenced_epoch, n.new_epoch) for n in notes] == [
            ("victim", "lease", 0, 1)]
        successor = sweeper.agent("successor")
        assert successor.acquire("lease") == "v1 by victim"
        assert successor.commit("lease", "v2 by successor") == 2

        os.kill(proc.pid, signal.SIGCONT)
        here.send("go")
        assert here.poll(60), "victim did not answer"
        results = here.recv()
        proc.join(30)
        assert proc.exitcode == 0
        assert results["state_before"] == "M"  # its local state still claimed ownership
        assert results["commit"] == ("refused", "grant_reclaimed")
        assert results["write"] == ("refused", "grant_reclaimed")
        assert results["cas"] == ("refused", "version_conflict")
        record = store.coordinator().artifact("lease")
        assert (record.version, record.epoch, record.updated_by) == (2, 1, successor.id)
        assert store.core().agent("auditor").read("lease") == "v2 by successor"
    finally:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.join(5)
        store.cleanup()


@pytest.mark.parametrize("engine", ["postgres", "redis"])
def test_reclaim_alone_fences_an_unchanged_artifact(engine, tmp_path):
    """No successor commit: the version did not move, only the epoch did; still refused."""
    store = Store(engine, tmp_path)
    try:
        cr = CrashRecoveryConfig(heartbeat_ttl=30.0)
        holder = store.core(bus=None, crash_recovery=cr).agent("holder")
        holder.write("doc", "v1")
        sweeper = store.core(clock=ManualClock(time.time() + 3600), crash_recovery=cr)
        assert [n.agent for n in sweeper.sweep()] == [holder.id]
        with pytest.raises(GrantReclaimed):
            holder.commit("doc", "after the reclaim")
        assert store.coordinator().artifact("doc").version == 1
    finally:
        store.cleanup()
