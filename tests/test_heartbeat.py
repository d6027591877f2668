"""Background heartbeats: an agent that merely thinks longer than the TTL keeps its grant; without
them (or in a process that stopped) crash recovery reclaims it and fences its write."""

import time

import pytest

from ccs import CoherenceAdapterCore, CrashRecoveryConfig, GrantReclaimed
from ccs.protocol.ids import agent_name

TTL = 1.5
THINK = 2.5  # longer than the TTL, with no call to the store in between


def think_then_write(tmp_path, auto_heartbeat: bool) -> tuple[CoherenceAdapterCore, object]:
    cr = CrashRecoveryConfig(heartbeat_ttl=TTL, sweep_interval=0, auto_heartbeat=auto_heartbeat)
    url = f"sqlite:///{tmp_path}/state.db"
    thinker_core = CoherenceAdapterCore(url, crash_recovery=cr)
    peer_core = CoherenceAdapterCore(url, crash_recovery=cr)
    thinker, peer = thinker_core.agent("thinker"), peer_core.agent("peer")
    plan = thinker.acquire("plan.md", "") + "1. think\n"
    deadline = time.monotonic() + THINK
    while time.monotonic() < deadline:  # the peer keeps working: every call may run the sweep
        peer.read("notes.md", None)
        time.sleep(0.05)
    return peer_core, lambda: thinker.write("plan.md", plan)


def test_a_thinking_agent_keeps_its_grant(tmp_path):
    peer_core, write = think_then_write(tmp_path, auto_heartbeat=True)
    assert write() == 1
    assert peer_core.coordinator.artifact("plan.md").last_reclaim is None


def test_without_heartbeats_the_grant_is_reclaimed_and_the_write_fenced(tmp_path):
    peer_core, write = think_then_write(tmp_path, auto_heartbeat=False)
    with pytest.raises(GrantReclaimed):
        write()
    reclaim = peer_core.coordinator.artifact("plan.md").last_reclaim
    assert agent_name(reclaim.agent) == "thinker" and "no heartbeat from thinker " in reclaim.reason


def test_no_background_heartbeats_under_an_injected_clock(clock):
    core = CoherenceAdapterCore("memory://", clock=clock)
    assert core.heartbeater is None
    core.close()
