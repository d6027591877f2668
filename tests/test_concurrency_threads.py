"""Real threads on ``memory://``: every agent in its own thread, histories checked afterwards."""

import sys
import threading

import pytest

from ccs import CoherenceAdapterCore, ConflictError, CrashRecoveryConfig, GrantReclaimed, ManualClock
from ccs.history import (
    FAIL,
    Recorder,
    cas_winners,
    check,
    lost_updates,
    reclaimed_commits_landed,
    successful_commits,
    workload,
)
from ccs.protocol.ids import agent_name
from thread_runner import run_threads

WAIT = 20.0  # bound on every wait, so a bug shows as a failure and never as a hang
PAUSE = 0.0005  # up to 0.5 ms between read and commit (sleeping releases the GIL): real interleaving


@pytest.fixture(autouse=True)
def fine_grained_switching():
    """Switch threads often, so read->write windows really interleave under the GIL."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(old)


def final_state(core, rec, aid):
    v = workload.read(core.agent("auditor"), rec, aid)
    return v.version, v.value


def test_contended_increments_lose_nothing_and_are_linearizable(core):
    rec = Recorder()
    start = threading.Barrier(6)
    steps = (workload.increment, workload.write_cas_increment, workload.cas_increment)

    def client(i):
        agent = core.agent(f"w{i}")
        start.wait(WAIT)
        for n in range(45):
            steps[(n + i) % 3](agent, rec, "counter", pause=PAUSE)

    run_threads([lambda i=i: client(i) for i in range(6)])
    version, value = final_state(core, rec, "counter")
    ops = rec.ops()
    commits = successful_commits(ops, "counter")
    assert value == version == len(commits)
    assert len(commits) > 6 * 45 * 0.9  # retries are bounded; nearly every increment lands
    assert any(o.status == FAIL for o in ops), "no write was ever refused: the run had no contention"
    assert lost_updates(ops, final={"counter": (version, value)}) == []
    assert all(len(w) <= 1 for w in cas_winners(ops).values())
    result = check(ops, budget=20)
    assert result.result == "ok", result


def test_commit_cas_races_have_exactly_one_winner(core):
    rec = Recorder()
    racers, rounds = 5, 30
    with rec.record("setup", "write", "race", base=0, epoch=None, value="start") as o:
        rec.ok(o, version=core.agent("setup").write("race", "start"))
    read_done, race_done = threading.Barrier(racers), threading.Barrier(racers)
    seen: dict[int, set[int]] = {r: set() for r in range(rounds)}

    def racer(i):
        agent = core.agent(f"r{i}")
        for r in range(rounds):
            v = workload.read(agent, rec, "race")
            seen[r].add(v.version)
            read_done.wait(WAIT)  # everyone holds the same version before anyone commits
            try:
                with rec.record(agent.name, "commit_cas", "race", expected=v.version, epoch=v.epoch,
                                value=f"{agent.name}@{r}") as o:
                    rec.ok(o, version=agent.commit_cas("race", v.version, f"{agent.name}@{r}"))
            except Exception as exc:
                assert exc.code == "version_conflict"
            race_done.wait(WAIT)

    run_threads([lambda i=i: racer(i) for i in range(racers)])
    assert all(len(versions) == 1 for versions in seen.values())
    ops = rec.ops()
    winners = cas_winners(ops)
    assert len(winners) == rounds
    assert [len(w) for w in winners.values()] == [1] * rounds
    version, value = final_state(core, rec, "race")
    assert version == rounds + 1 and value == winners["race", rounds][0].inputs["value"]
    assert check(ops, budget=20).ok


def test_paused_grant_holders_are_fenced_after_reclaim():
    """Two holders pause on a grant while their TTL runs out and the sweep reclaims it. ``sleepy``
    then commits under the grant after a rescuer wrote; ``dozy`` writes to an artifact nobody else
    touched, so only the epoch fence (not a version check) stands between it and landing."""
    clock = ManualClock()
    core = CoherenceAdapterCore(engine="memory://", clock=clock,
                                crash_recovery=CrashRecoveryConfig(heartbeat_ttl=5, sweep_interval=1e9))
    rec = Recorder()
    setup = core.agent("setup")
    for aid in ("fenced", "quiet"):
        with rec.record("setup", "write", aid, base=0, epoch=None, value="original") as o:
            rec.ok(o, version=setup.write(aid, "original"))
    holding = {"sleepy": threading.Event(), "dozy": threading.Event()}
    resume, progressed = threading.Event(), threading.Event()
    refused = {}

    def holder(name, aid, kind):
        agent = core.agent(name)
        v = workload.reacquire(agent, rec, aid)  # takes the grant, at epoch 0
        holding[name].set()
        assert resume.wait(WAIT)
        try:
            with rec.record(name, kind, aid, base=v.version, epoch=v.epoch, value="zombie") as o:
                rec.ok(o, version=getattr(agent, kind)(aid, "zombie"))
        except ConflictError as exc:
            refused[name] = exc

    def worker(i):
        agent = core.agent(f"w{i}")
        for n in range(60):
            if n == 20:
                progressed.set()
            step = workload.increment if n % 2 else workload.cas_increment
            step(agent, rec, "counter", pause=PAUSE)

    def controller():
        assert all(e.wait(WAIT) for e in holding.values()) and progressed.wait(WAIT)
        clock.advance(10)  # every agent is now past its heartbeat TTL
        refused["notes"] = workload.sweep(core, rec)
        rescuer = core.agent("rescuer")
        v = workload.reacquire(rescuer, rec, "fenced")
        with rec.record("rescuer", "write", "fenced", base=v.version, epoch=v.epoch,
                        value="rescued") as o:
            rec.ok(o, version=rescuer.write("fenced", "rescued"))
        resume.set()

    try:
        run_threads([lambda: holder("sleepy", "fenced", "commit"), lambda: holder("dozy", "quiet", "write"),
                     controller, *(lambda i=i: worker(i) for i in range(4))])
        reclaimed = {(agent_name(n.agent), n.artifact) for n in refused["notes"]}
        assert {("sleepy", "fenced"), ("dozy", "quiet")} <= reclaimed
        for name, aid in (("sleepy", "fenced"), ("dozy", "quiet")):
            err = refused.get(name)
            assert isinstance(err, GrantReclaimed), f"{name}'s commit from a reclaimed epoch: {err!r}"
            assert err.code == "grant_reclaimed" and err.artifact == aid

        ops = rec.ops()
        assert final_state(core, rec, "fenced") == (2, "rescued")
        assert final_state(core, rec, "quiet") == (1, "original")
        assert reclaimed_commits_landed(ops) == []
        for aid in ("fenced", "quiet"):
            versions = range(1, core.coordinator.artifact(aid).version + 1)
            assert all(core.coordinator.content_at(aid, v) != b'"zombie"' for v in versions)

        version, value = final_state(core, rec, "counter")
        assert value == version == len(successful_commits(ops, "counter"))
        assert lost_updates(ops, final={"counter": (version, value)}) == []
        result = check(ops, budget=20)
        assert result.result == "ok", result
    finally:
        core.close()
