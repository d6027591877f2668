"""Handoff on every engine: the grant passes in one transaction, at a new epoch, so no third agent
slips a write in between and the giver is fenced afterwards."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest

from ccs import CoherenceAdapterCore, CrashRecoveryConfig, failpoints
from ccs.backends import owns_key, owns_prefix
from ccs.history import OK, Recorder, check, workload
from ccs.protocol.audit import COMMITTED, RECLAIMED
from ccs.protocol.errors import (
    ConflictError,
    GrantReclaimed,
    InvalidArgument,
    InvalidIdentifier,
    NotOwner,
    StaleEpoch,
)
from ccs.protocol.records import Mesi
from conformance.effect_workers import hammer

WAIT = 60.0
ROUNDS = 15  # completed rounds wanted
MAX_ROUNDS = 2000


def test_handoff_passes_the_grant_and_fences_every_earlier_view(store):
    core = store.core()
    author, reviewer, peer = core.agent("author"), core.agent("reviewer"), core.agent("peer")
    author.write("doc", "draft")
    author.acquire("doc")
    peer.read("doc")  # a view taken before the handoff (it downgrades author)
    author.acquire("doc")
    epoch = author.handoff("doc", to="reviewer")
    rec = core.coordinator.artifact("doc")
    assert rec.owner.agent == reviewer.id and rec.epoch == epoch == 1 and rec.version == 1
    with pytest.raises(StaleEpoch):  # derived from its view of version 1 at epoch 0
        peer.commit_cas("doc", 1, "peer's")
    assert reviewer.read("doc") == "draft" and reviewer.state("doc") is Mesi.EXCLUSIVE
    assert reviewer.commit("doc", "reviewed") == 2
    with pytest.raises(GrantReclaimed) as info:
        author.commit("doc", "late")
    assert "handed off to reviewer" in info.value.message
    with pytest.raises(GrantReclaimed):
        author.write("doc", "late")
    assert core.coordinator.artifact("doc").version == 2
    [handed] = [e for e in core.coordinator.audit("doc") if e.outcome == RECLAIMED]
    assert (handed.op, handed.agent, handed.version, handed.epoch) == ("handoff", author.id, 1, 1)


def test_handoff_is_refused_unless_the_giver_holds_the_grant_on_what_it_saw(store):
    core = store.core()
    author, intruder = core.agent("author"), core.agent("intruder")
    with pytest.raises(NotOwner):
        author.handoff("doc", to="reviewer")  # never took it
    author.write("doc", 1)
    with pytest.raises(InvalidArgument):
        author.handoff("doc", to=author)
    with pytest.raises(InvalidArgument):
        author.handoff("doc", to=42)
    intruder.read("doc")
    intruder.commit_cas("doc", 1, 2)  # slipped in: the grant is gone
    with pytest.raises(NotOwner):
        author.handoff("doc", to="reviewer")
    rec = core.coordinator.artifact("doc")
    assert rec.epoch == 0 and rec.owner is None and rec.version == 2  # nothing changed


def test_a_write_landing_just_before_the_handoff_transaction_refuses_it(store):
    """The giver's client still believes it holds the grant (the intruder's invalidation has not
    reached it): the engine transaction itself must refuse, and the receiver get nothing."""
    core, other = store.core(), store.core()
    author, reviewer = core.agent("author"), core.agent("reviewer")
    intruder = other.agent("intruder")
    author.write("doc", 1)

    def slip_in(**_):  # armed once: the intruder's own calls pass this point freely
        intruder.read("doc")
        intruder.commit_cas("doc", 1, 2)

    with failpoints.arm("coordinator.before_transact", slip_in, times=1), \
            pytest.raises(NotOwner):
        author.handoff("doc", to="reviewer")
    rec = core.coordinator.artifact("doc")
    assert rec.version == 2 and rec.epoch == 0 and rec.owner is None
    with pytest.raises(NotOwner):
        reviewer.commit("doc", 3)


def test_a_receiver_in_another_process_must_be_live(shared_store):
    """With crash recovery on, the grant goes only to an agent with an unexpired heartbeat (an
    agent id of another process), and its ownership entry moves from the giver to the receiver,
    so the sweep can reclaim it."""
    cr = CrashRecoveryConfig(heartbeat_ttl=30.0)
    giver_core, receiver_core = shared_store.core(crash_recovery=cr), shared_store.core(crash_recovery=cr)
    author, reviewer = giver_core.agent("author"), receiver_core.agent("reviewer")
    author.write("doc", "draft")
    with pytest.raises(InvalidArgument) as info:
        author.handoff("doc", to=reviewer.id)
    assert "not live" in info.value.message
    assert giver_core.coordinator.artifact("doc").owner.agent == author.id
    author.read("doc")
    reviewer.heartbeat()
    author.handoff("doc", to=reviewer.id)
    backend = giver_core.coordinator.backend
    assert backend.keys(owns_prefix(reviewer.id)) == [owns_key(reviewer.id, "doc")]
    assert backend.keys(owns_prefix(author.id)) == []
    assert backend.get(f"g/{reviewer.id}").indexed == 1 and backend.get(f"g/{author.id}").indexed == 0
    assert reviewer.read("doc") == "draft"
    assert reviewer.commit("doc", "approved") == 2


def round_trip(author, reviewer, rec: Recorder, n: int, rounds: list) -> None:
    """author takes the grant and writes; hands off; reviewer reads and commits under the grant."""
    v = workload.reacquire(author, rec, "doc")
    value = 1000 * (n + 1)
    try:
        with rec.record("author", "write", "doc", base=v.version, epoch=v.epoch, value=value) as o:
            written = author.write("doc", value)
            rec.ok(o, version=written)
        started = time.monotonic_ns()
        epoch = author.handoff("doc", to=reviewer)
        rec.completed("author", "reclaim", "doc", {"agent": "author"}, started, {"epoch": epoch})
    except ConflictError:
        return
    got = workload.read(reviewer, rec, "doc")
    try:
        with rec.record("reviewer", "commit", "doc", base=got.version, epoch=got.epoch,
                        value=value + 1) as o:
            rec.ok(o, version=reviewer.commit("doc", value + 1))
    except ConflictError:
        return
    rounds.append((written, epoch, got.version, got.epoch))


def test_threads_a_third_agent_hammering_never_lands_a_write_between(store, fine_grained_switching):
    rec = Recorder()
    core = store.core()
    author, reviewer = core.agent("author"), core.agent("reviewer")
    workload.read(core.agent("seed"), rec, "doc")
    stop, rounds, errors = threading.Event(), [], []

    def intruder():
        agent = (store.core() if store.shared else core).agent("intruder")
        try:
            for _ in range(200):
                if stop.is_set():
                    return
                workload.write_cas_increment(agent, rec, "doc", retries=2)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=intruder)
    thread.start()
    try:
        for n in range(ROUNDS):
            round_trip(author, reviewer, rec, n, rounds)
    finally:
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive() and not errors, errors
    # every completed round: the reviewer read exactly what was handed, at the handoff's epoch,
    # and its commit under the grant landed on it: nothing landed in between
    assert all(read == written and read_epoch == epoch for written, epoch, read, read_epoch in rounds)
    result = check(rec.ops(), budget=20)
    assert result.result == "ok", result
    assert sum(o.op == "reclaim" and o.status == OK for o in rec.ops()) >= len(rounds)


@pytest.mark.slow
def test_processes_hammering_never_land_a_write_between(shared_store):
    """Two intruder processes hammer write_cas on the artifact while author and reviewer (two
    cores, the receiver named by its agent id) hand the grant over round after round. In the
    engine's audit log every reviewer commit follows the author's commit and its handoff
    directly, and every handoff is of the author's own version."""
    url = shared_store.url
    CoherenceAdapterCore(engine=url).close()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(3)
    procs = [ctx.Process(target=hammer, args=(url, "doc", 30.0, 150, start)) for _ in range(2)]
    rec, rounds = Recorder(), []
    try:
        for p in procs:
            p.start()
        with CoherenceAdapterCore(engine=url) as a_core, CoherenceAdapterCore(engine=url) as r_core:
            author, reviewer = a_core.agent("author"), r_core.agent("reviewer")
            start.wait(WAIT)
            for n in range(MAX_ROUNDS):  # until enough rounds completed (the intruders do stop)
                if len(rounds) >= ROUNDS:
                    break
                round_trip(author, reviewer, rec, n, rounds)
            log = a_core.coordinator.audit("doc")
            author_id, reviewer_id = author.id, reviewer.id
    finally:
        for p in procs:
            p.join(WAIT)
            if p.is_alive():
                p.kill()
                p.join(5)
    assert [p.exitcode for p in procs] == [0, 0]
    by_version = {e.version: e for e in log if e.outcome == COMMITTED}
    handoffs = [e for e in log if e.outcome == RECLAIMED and e.op == "handoff"]
    assert handoffs and all(by_version[h.version].agent == author_id for h in handoffs)
    handed = {h.version: h.epoch for h in handoffs}
    reviews = [e for e in log if e.outcome == COMMITTED and e.agent == reviewer_id]
    assert len(reviews) == len(rounds)
    for e in reviews:
        assert e.base_version in handed and e.epoch == handed[e.base_version]
        assert by_version[e.base_version].agent == author_id


def test_a_lost_handoff_reply_is_resolved_by_the_retry(store):
    """The handoff landed and its reply was lost: the retry finds the grant already with the
    receiver, handed by this giver at this epoch, and answers as the first attempt would have."""
    from ccs.protocol.errors import OutcomeUnknown

    core = store.core()
    author, reviewer = core.agent("author"), core.agent("reviewer")
    author.write("doc", "draft")
    lost = []

    def lose(artifact="", reply=None, **_):
        if artifact == "doc" and isinstance(reply, tuple) and not lost:
            lost.append(reply)
            raise OutcomeUnknown("injected: the reply was lost")

    with failpoints.arm("coordinator.committed", lose):
        assert author.handoff("doc", to="reviewer") == 1
    assert lost == [(1, lost[0][1])]
    rec = core.coordinator.artifact("doc")
    assert rec.owner.agent == reviewer.id and rec.epoch == 1
    assert reviewer.commit("doc", "reviewed") == 2


def test_a_bad_receiver_is_refused_and_changes_nothing(store):
    from bad_inputs import TEXTS, WRONG_TYPES

    core = store.core()
    author = core.agent("author")
    author.write("doc", "draft")
    before = core.coordinator.artifact("doc")
    texts = [TEXTS[k] for k in ("empty", "NUL", "lone surrogate", "10k chars")]
    for bad in [*WRONG_TYPES.values(), *texts, "nobody@0123456789ab"]:
        with pytest.raises((InvalidArgument, InvalidIdentifier)) as info:
            author.handoff("doc", to=bad)
        assert info.value.recover
        assert core.coordinator.artifact("doc") == before
