"""The effect gate on every engine: decided on current inputs only, recorded in the engine's
outbox, never lost and never repeated per key across a SIGKILL between the effect and its record."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from ccs import CoherenceAdapterCore
from ccs.history import FAIL, OK, Recorder, check, workload
from ccs.protocol.errors import (
    ConflictError,
    InvalidArgument,
    InvalidIdentifier,
    InvalidValue,
    StaleEpoch,
    StaleView,
)
from conformance.effect_workers import append_always, append_once, effect_then_hang

WAIT = 60.0


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_effect_runs_once_per_key_and_replays_the_recorded_result(store, tmp_path):
    out = tmp_path / "out.txt"
    a = store.core().agent("mailer")
    a.write("plan", "ship it")
    calls = []

    def send(key, payload):
        calls.append(key)
        return append_always(str(out))(key, payload)

    with a.effect(depends_on=["plan"]) as e:
        first = e.run(send, {"to": "ops"}, key="mail-1")
        assert not e.replayed
        again = e.run(send, {"to": "ops"}, key="mail-1")
        assert e.replayed
    assert first == again == {"appended": "mail-1"}
    assert calls == ["mail-1"] and lines(out) == ["mail-1"]
    # another process (another core) sees it done, and does not run it either
    other = store.core().agent("mailer")
    other.read("plan")
    assert other.effect(depends_on=["plan"]).run(send, {"to": "ops"}, key="mail-1") == first
    assert calls == ["mail-1"]
    assert other.pending_effects() == []
    # listings of artifacts (ccs status, CoherentVolume, the adapters) do not show the outbox
    assert [r.artifact_id for r in other.coordinator.artifacts()] == ["plan"]
    assert len(other.coordinator.artifacts("ccs::")) == 1


def test_moved_input_refuses_with_the_errors_of_a_stale_write(store):
    core = store.core()
    a, peer, owner = core.agent("mailer"), core.agent("peer"), core.agent("owner")
    a.write("plan", "v1")
    a.write("budget", 10)
    peer.read("plan")
    peer.write("plan", "v2")  # the version moved
    ran = []
    with pytest.raises(StaleView) as info, a.effect(depends_on=["plan", "budget"]) as e:
        e.run(lambda key, p: ran.append(key), key="k1")
    err = info.value
    assert err.artifact == "plan" and err.current_version == 2 and ran == []
    assert [m["artifact"] for m in err.details["moved"]] == ["plan"]
    assert err.details["effect"] == "k1" and err.recover
    assert a.pending_effects() == []
    # only the epoch moved: a handoff fenced every view of 'budget' taken before it
    a.read("plan")
    owner.acquire("budget")
    owner.handoff("budget", to="peer")
    with pytest.raises(StaleEpoch), a.effect(depends_on=["plan", "budget"]) as e:
        owner_view = e.inputs["budget"]
        e.run(lambda key, p: ran.append(key), key="k2")
    assert owner_view[1] == 0 and ran == []
    # read again: current, so it runs
    a.read("budget")
    with a.effect(depends_on=["plan", "budget"]) as e:
        e.run(lambda key, p: ran.append(key), key="k3")
    assert ran == ["k3"]


def test_bad_input_is_refused_before_anything_is_recorded(store):
    a = store.core().agent("mailer")
    a.write("plan", "x")
    e = a.effect(depends_on=["plan"])
    with pytest.raises(InvalidArgument):
        e.run("not callable")
    with pytest.raises(InvalidArgument):
        e.run(lambda k, p: None, key="")
    with pytest.raises(InvalidArgument):
        e.run(lambda k, p: None, name=7)
    with pytest.raises(InvalidValue):
        e.run(lambda k, p: None, payload=object())
    with pytest.raises(InvalidArgument):
        a.effect(depends_on="plan")
    e.run(lambda k, p: None, {"to": "a"}, key="once", name="send")
    with pytest.raises(InvalidArgument):  # a key is one effect: not another payload or name
        e.run(lambda k, p: None, {"to": "b"}, key="once", name="send")
    with pytest.raises(InvalidArgument):
        e.run(lambda k, p: None, {"to": "a"}, key="once", name="pay")
    with pytest.raises(InvalidIdentifier):
        a.write("ccs::outbox/forged", "done")  # the outbox is the library's own namespace
    with pytest.raises(InvalidIdentifier):
        a.effect(depends_on=["ccs::outbox/once"])
    assert a.pending_effects(all_agents=True) == []


def test_an_effect_that_raises_stays_pending_and_resume_completes_it(store, tmp_path):
    out = tmp_path / "out.txt"
    a = store.core().agent("mailer")
    a.write("plan", "x")

    def flaky(key, payload):
        raise TimeoutError("the mail server did not answer")

    with pytest.raises(TimeoutError), a.effect(depends_on=["plan"]) as e:
        e.run(flaky, "body", key="mail-9", name="send")
    [pending] = a.pending_effects()
    assert (pending.key, pending.effect, pending.payload, pending.status) == \
        ("mail-9", "send", "body", "pending")
    assert pending.inputs == {"plan": [1, 0]}
    done = store.core().agent("mailer").resume_effects({"send": append_once(str(out))})
    assert [d.key for d in done] == ["mail-9"] and lines(out) == ["mail-9"]
    assert a.pending_effects() == []


def gated(agent, rec: Recorder, aid: str, ran: list, n: int) -> None:
    """Read, then gate an effect on that read. Recorded as a 'gate' op: its decision is a read of
    the version it was derived from (see ``as_register_ops``)."""
    v = agent.read_with_version(aid, None)
    op = rec.invoke(agent.name, "gate", aid, value=v.value, version=v.version, epoch=v.epoch)
    try:
        with agent.effect(depends_on=[aid]) as e:
            e.run(lambda key, p: ran.append((key, p)), v.version, key=f"{agent.name}-{n}")
        rec.ok(op)
    except ConflictError as exc:
        rec.fail(op, exc.code)


def as_register_ops(ops):
    """A gate that ran is a read that saw the version it was derived from, at its decision; a
    refused gate is a compare-and-set from that version that was refused (which the register
    allows only if the version or epoch had moved)."""
    for o in ops:
        if o.op != "gate":
            continue
        if o.status == OK:
            o.op, o.outputs = "read", dict(o.inputs)
        else:
            o.op = "commit_cas"
            o.inputs = {"expected": o.inputs["version"], "epoch": o.inputs["epoch"], "value": None}
    return ops


def test_threads_gating_against_writers_never_run_on_a_moved_input(store, fine_grained_switching):
    """Two threads gate effects on a counter while two threads increment it: the merged history,
    with every effect that ran read as a read at its decision, is linearizable."""
    core = store.core()
    rec = Recorder()
    workload.read(core.agent("seed"), rec, "counter")
    ran: list = []
    start = threading.Barrier(4)
    errors: list = []

    def writer(name):
        agent = store.core().agent(name) if store.shared else core.agent(name)
        start.wait(WAIT)
        for _ in range(12):
            workload.write_cas_increment(agent, rec, "counter", pause=0.0005)

    def gate(name):
        agent = store.core().agent(name) if store.shared else core.agent(name)
        start.wait(WAIT)
        for n in range(12):
            gated(agent, rec, "counter", ran, n)

    def guard(fn, name):
        try:
            fn(name)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(fn, name)) for fn, name in
               [(writer, "w1"), (writer, "w2"), (gate, "g1"), (gate, "g2")]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads) and not errors, errors
    ops = as_register_ops(rec.ops())
    gates = [o for o in ops if o.client in ("g1", "g2")]
    assert len(gates) == 24
    assert len(ran) == sum(o.status == OK for o in gates)
    assert all(o.status in (OK, FAIL) for o in gates)
    result = check(ops, budget=20)
    assert result.result == "ok", result
    outbox = core.agent("g1").pending_effects(all_agents=True)
    assert outbox == []  # every effect that ran was recorded done


@pytest.mark.slow
@pytest.mark.parametrize("point,dedup", [("effect.after_run", True), ("effect.after_run", False),
                                         ("effect.before_run", True)])
def test_sigkill_between_effect_and_record_neither_loses_nor_repeats(shared_store, tmp_path,
                                                                     point, dedup):
    """A process is SIGKILLed after the intent is recorded: after the effect ran and before it
    was recorded done, or before it ran. Recovery in a new process runs it again with the same
    key: an effect that deduplicates by its key happened exactly once; one that does not
    happened at least once (never lost)."""
    url = shared_store.url
    with CoherenceAdapterCore(engine=url) as core:
        core.agent("author").write("plan", "ship")
    out, marker = tmp_path / "sent.txt", tmp_path / "ready"
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=effect_then_hang, args=(url, str(out), str(marker), point, dedup))
    child.start()
    try:
        deadline = time.monotonic() + WAIT
        while not marker.exists() and child.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the child never reached the kill point"
        os.kill(child.pid, signal.SIGKILL)
        child.join(WAIT)
    finally:
        if child.is_alive():
            child.kill()
            child.join(5)
    assert child.exitcode == -signal.SIGKILL
    assert lines(out) == (["mail-1"] if point == "effect.after_run" else [])

    with CoherenceAdapterCore(engine=url) as core:
        mailer = core.agent("mailer")
        [pending] = mailer.pending_effects()
        assert (pending.key, pending.effect, pending.payload) == ("mail-1", "append", "hello")
        effect = append_once(str(out)) if dedup else append_always(str(out))
        [done] = mailer.resume_effects({"append": effect})
        assert done.key == "mail-1" and mailer.pending_effects() == []
        assert mailer.resume_effects({"append": effect}) == []  # done: never again
        # the same key run again returns the recorded result without running
        mailer.read("plan")
        with mailer.effect(depends_on=["plan"]) as e:
            assert e.run(effect, "hello", key="mail-1", name="append") == done.result
    sent = lines(out)
    if dedup:
        assert sent == ["mail-1"]  # exactly once
    else:
        assert "mail-1" in sent and len(sent) <= 2  # at least once: not lost


@pytest.mark.parametrize("lost", ["intent", "done"])
def test_a_lost_reply_is_resolved_by_its_commit_id(store, lost):
    """The engine committed the outbox record but the reply was lost: the retry under the same
    commit id finds it, so the effect still runs exactly once and ends recorded done."""
    from ccs import failpoints
    from ccs.protocol.errors import OutcomeUnknown

    a = store.core().agent("mailer")
    a.write("plan", "x")
    calls = []
    seen = []

    def lose(reply=None, artifact="", **_):
        if artifact.startswith("ccs::outbox/") and not seen and \
                (reply.version == 1) == (lost == "intent"):
            seen.append(reply)
            raise OutcomeUnknown("injected: the reply was lost")

    with failpoints.arm("coordinator.committed", lose), a.effect(depends_on=["plan"]) as e:
        e.run(lambda key, p: calls.append(key), key="once")
    assert seen and calls == ["once"] and a.pending_effects() == []


def test_a_refused_effect_renders_a_conflict_packet_naming_the_next_call(store):
    """Runs once conflict packets (``ccs.merge.packet``, the merge branch of issue 16) are in."""
    pytest.importorskip("ccs.merge.packet")
    core = store.core()
    a, b = core.agent("mailer"), core.agent("editor")
    a.write("plan", "line 1\nline 2\n")
    b.read("plan")
    b.write("plan", "line 1\nline 2 changed\n")
    with pytest.raises(StaleView) as info, a.effect(depends_on=["plan"]) as e:
        e.run(lambda key, p: None, key="k")
    packet = info.value.conflict_packet(400)
    assert "line 2 changed" in packet.text and "agent.effect(depends_on=...)" in packet.text
    assert packet.to_dict()["current_version"] == 2
