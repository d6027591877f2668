"""The ownership index on every engine: a dead agent's grants are all reclaimed, after a SIGKILL,
with a damaged index, and from a store written by the previous layout (the owned list kept in
the liveness record), which a heartbeat moves into the index."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

from ccs import Coordinator, CrashRecoveryConfig
from ccs.backends import agent_key, owns_key, owns_prefix
from ccs.protocol.records import AgentRecord, OwnershipEntry

DEAD = "worker@0123456789ab"
LIVE = "keeper@0123456789ab"
MANY = 400
CR = CrashRecoveryConfig(heartbeat_ttl=30.0, sweep_interval=1e9)
LATER = 3600.0  # the sweep runs as if this much later: every record above has expired


def grab_and_die(url: str, n: int, ready) -> None:
    """Take ``n`` grants as one agent, say so, and SIGKILL this process (no cleanup runs)."""
    coord = Coordinator(url, crash_recovery=CR)
    for i in range(n):
        coord.acquire(DEAD, f"doc-{i}")
    ready.set()
    os.kill(os.getpid(), signal.SIGKILL)


def _take(store, n: int, agent: str = DEAD) -> None:
    if not store.shared:  # one process holds the memory engine: take them here
        coord = store.coordinator(crash_recovery=CR)
        for i in range(n):
            coord.acquire(agent, f"doc-{i}")
        return
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=grab_and_die, args=(store.url, n, ready))
    proc.start()
    try:
        proc.join(120)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(5)
    assert ready.is_set() and proc.exitcode == -signal.SIGKILL


def _assert_all_reclaimed(coord: Coordinator, notes, ids: list[str], agent: str = DEAD) -> None:
    assert sorted(n.artifact for n in notes if n.agent == agent) == sorted(ids)
    for aid in ids:
        rec = coord.artifact(aid)
        assert rec.owner is None and rec.epoch == 1 and rec.last_reclaim.agent == agent
    assert coord.backend.keys(owns_prefix(agent)) == []
    assert coord.backend.get(agent_key(agent)) is None


def test_sweep_after_sigkill_reclaims_every_artifact_the_agent_owned(store):
    _take(store, MANY)
    coord = store.coordinator(crash_recovery=CR)
    assert len(coord.backend.keys(owns_prefix(DEAD))) == MANY
    assert coord.backend.get(agent_key(DEAD)).indexed == MANY
    notes = coord.sweep(time.time() + LATER)
    _assert_all_reclaimed(coord, notes, [f"doc-{i}" for i in range(MANY)])
    assert coord.sweep(time.time() + LATER) == []


def test_a_damaged_index_still_reclaims_every_grant_and_spares_live_agents(store):
    """An entry missing, another naming the wrong artifact: the dead agent's grants are found by
    a scan; a live agent whose entries are gone keeps its grants."""
    coord = store.coordinator(crash_recovery=CR)
    ids = [f"doc-{i}" for i in range(12)]
    for aid in ids:
        coord.acquire(DEAD, aid)
    coord.acquire(LIVE, "kept")
    damage = {owns_key(DEAD, "doc-3"): None, owns_key(DEAD, "doc-7"): OwnershipEntry(DEAD, "elsewhere"),
              owns_key(LIVE, "kept"): None}
    coord.backend.transact(list(damage), lambda r: (damage, None))
    later = time.time() + LATER
    coord.backend.transact([agent_key(LIVE)], lambda r: (
        {agent_key(LIVE): AgentRecord(LIVE, later + 60, 30.0, indexed=1)}, None))
    notes = coord.sweep(later)
    assert sorted(n.artifact for n in notes) == sorted(ids)
    for aid in ids:
        assert coord.artifact(aid).owner is None
    assert coord.artifact("kept").owner.agent == LIVE
    assert coord.backend.get(agent_key(DEAD)) is None


def test_a_store_of_the_previous_layout_is_read_and_swept_completely(store):
    """The previous layout listed every owned artifact in the liveness record. Such a record is
    read as it is: new grants go to the index, the sweep reclaims both."""
    coord = store.coordinator(crash_recovery=CR)
    for aid in ("x", "y", "z"):
        coord.acquire(DEAD, aid)
    rec = coord.backend.get(agent_key(DEAD))
    old = {owns_key(DEAD, a): None for a in ("x", "y", "z")}
    old[agent_key(DEAD)] = AgentRecord(DEAD, rec.expires_at - 20, rec.ttl, frozenset({"x", "y", "z"}))
    coord.backend.transact(list(old), lambda r: (old, None))
    if store.kind == "sqlite":  # the body the previous release wrote, byte for byte
        import sqlite3
        conn = sqlite3.connect(store.url.removeprefix("sqlite:///"))
        body = conn.execute("SELECT body FROM ccs_records WHERE key = ?", (agent_key(DEAD),)).fetchone()[0]
        conn.close()
        assert body.startswith('{"agent":') and body.endswith(',"owned":["x","y","z"]}')
    coord.acquire(DEAD, "x")  # listed by the old record: nothing added
    coord.acquire(DEAD, "w")  # a new grant: one index entry
    assert coord.backend.keys(owns_prefix(DEAD)) == [owns_key(DEAD, "w")]
    rec = coord.backend.get(agent_key(DEAD))
    assert (rec.owned, rec.indexed) == ({"x", "y", "z"}, 1)
    notes = coord.sweep(time.time() + LATER)
    _assert_all_reclaimed(coord, notes, ["w", "x", "y", "z"])


def test_a_heartbeat_moves_a_record_of_the_previous_layout_into_the_index(store):
    coord = store.coordinator(crash_recovery=CR)
    for aid in ("x", "y"):
        coord.acquire(DEAD, aid)
    rec = coord.backend.get(agent_key(DEAD))
    old = {owns_key(DEAD, "x"): None, owns_key(DEAD, "y"): None,
           agent_key(DEAD): AgentRecord(DEAD, rec.expires_at, rec.ttl, frozenset({"x", "y", "z"}))}
    coord.backend.transact(list(old), lambda r: (old, None))
    coord.heartbeat(DEAD)
    rec = coord.backend.get(agent_key(DEAD))
    assert (rec.owned, rec.indexed) == (frozenset(), 3)
    assert coord.backend.keys(owns_prefix(DEAD)) == [owns_key(DEAD, a) for a in ("x", "y", "z")]
    coord.acquire(DEAD, "w")
    assert coord.backend.get(agent_key(DEAD)).indexed == 4
    notes = coord.sweep(time.time() + LATER)
    _assert_all_reclaimed(coord, notes, ["w", "x", "y"])  # z was listed but never granted
