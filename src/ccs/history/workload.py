"""Recorded client operations on an agent, for concurrency tests on any engine.

Each helper records exactly what the agent sent (base version, epoch, value) and what came back,
so a history can be checked against :class:`~ccs.history.checker.VersionedRegister`.
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

from ccs.history.recorder import Op, Recorder
from ccs.protocol.errors import ConflictError, RetriesExhausted
from ccs.protocol.ids import agent_name

if TYPE_CHECKING:
    from ccs.client.agent import Agent, Versioned


def read(agent: Agent, rec: Recorder, aid: str) -> Versioned:
    with rec.record(agent.name, "read", aid) as o:
        v = agent.read_with_version(aid, None)
        rec.ok(o, value=v.value, version=v.version, epoch=v.epoch)
    return v


def reacquire(agent: Agent, rec: Recorder, aid: str) -> Versioned:
    """Take the grant and refresh, recorded as a read of what the next write derives from."""
    with rec.record(agent.name, "read", aid) as o:
        agent.reacquire(aid)
        v = agent.snapshot(aid, None)
        rec.ok(o, value=v.value, version=v.version, epoch=v.epoch)
    return v


def think(seconds: float) -> None:
    """Time between reading and committing (an agent thinking), so clients really interleave."""
    if seconds > 0:
        time.sleep(random.uniform(0, seconds))


def increment(agent: Agent, rec: Recorder, aid: str, attempts: int = 50, pause: float = 0.0) -> bool:
    """read -> write(n + 1); on a refusal reacquire and re-derive. True once a write landed."""
    v = read(agent, rec, aid)
    for _ in range(attempts):
        new = (v.value or 0) + 1
        think(pause)
        try:
            with rec.record(agent.name, "write", aid, base=v.version, epoch=v.epoch, value=new) as o:
                rec.ok(o, version=agent.write(aid, new))
            return True
        except ConflictError:
            v = reacquire(agent, rec, aid)
    return False


def cas_increment(agent: Agent, rec: Recorder, aid: str, attempts: int = 50, pause: float = 0.0) -> bool:
    """read -> commit_cas(read version, n + 1), re-reading after each lost race."""
    for _ in range(attempts):
        v = read(agent, rec, aid)
        new = (v.value or 0) + 1
        think(pause)
        try:
            with rec.record(agent.name, "commit_cas", aid, expected=v.version, epoch=v.epoch,
                            value=new) as o:
                rec.ok(o, version=agent.commit_cas(aid, v.version, new))
            return True
        except ConflictError:
            continue
    return False


def write_cas_increment(agent: Agent, rec: Recorder, aid: str, retries: int = 16,
                        pause: float = 0.0) -> bool:
    """``agent.write_cas(aid, n + 1)``, each internal attempt recorded as its own compare-and-set.

    ``fn`` runs just before each attempt, on the view the attempt will commit against, so it is
    where the attempt's inputs are known. A retried attempt is recorded as refused for a reason
    the history cannot tell (version or epoch), which the specification allows anywhere."""
    attempt: list[Op] = []

    def fn(old):
        if attempt:
            rec.fail(attempt.pop(), "cas_retry")
        entry = agent._cache[aid]  # the view write_cas is about to commit against
        new = (old or 0) + 1
        think(pause)
        attempt.append(rec.invoke(agent.name, "commit_cas", aid, expected=entry.version,
                                  epoch=entry.epoch, value=new))
        return new

    try:
        version = agent.write_cas(aid, fn, retries=retries)
    except RetriesExhausted:
        rec.fail(attempt.pop(), "cas_retries_exhausted")
        return False
    rec.ok(attempt.pop(), version=version)
    return True


def sweep(core, rec: Recorder, client: str = "sweeper") -> list:
    """``core.sweep()``, each grant it reclaimed recorded as a ``reclaim`` spanning the whole call."""
    started = time.monotonic_ns()
    notes = core.sweep()
    for note in notes:
        rec.completed(client, "reclaim", note.artifact, {"agent": agent_name(note.agent)}, started,
                      {"fenced_epoch": note.fenced_epoch, "epoch": note.new_epoch})
    return notes


def process_worker(url: str, name: str, history_path: str, aid: str, ops: int, seconds: float,
                   start=None, pause: float = 0.0) -> None:
    """One client process: mixed increments on ``aid`` until ``ops`` are done or time is up.

    ``start`` (a multiprocessing barrier) lines the processes up once they are ready, so their
    operations really overlap instead of following each process's start-up."""
    from ccs.client.core import CoherenceAdapterCore

    with CoherenceAdapterCore(engine=url) as core, Recorder(history_path) as rec:
        agent = core.agent(name)
        if start is not None:
            start.wait(60)
        deadline = time.monotonic() + seconds
        steps = (increment, write_cas_increment, cas_increment)
        for n in range(ops):
            if time.monotonic() > deadline:
                break
            steps[n % len(steps)](agent, rec, aid, pause=pause)
