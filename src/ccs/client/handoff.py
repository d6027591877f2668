"""``agent.handoff(id, to=...)``: pass this agent's exclusive grant to another agent at once.

The grant moves in one engine transaction (``ccs.protocol.effects.handoff``), so no third agent
can hold it in between, and the epoch advances: a write derived from a view taken before the
handoff, by the giver or anyone else, is refused (``GrantReclaimed`` for the giver, whose
message says it was handed off; ``StaleEpoch`` for others). A receiver in this process is given the
handed version in its cache; one in another process reads it. It commits under the grant with
``commit``; if a write slipped in after the handoff, that commit
is refused (``NotOwner``/``StaleView``) instead of building on a version it was not handed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec.structs import replace

from ccs.client.entries import new_commit_id
from ccs.coordinator import effects as coordinated
from ccs.protocol.errors import ConflictError, InvalidArgument, NotOwner, OutcomeUnknown
from ccs.protocol.ids import agent_name
from ccs.protocol.records import Mesi

if TYPE_CHECKING:
    from ccs.client.agent import Agent


def receiver_id(agent: Agent, to: object) -> tuple[str, Agent | None]:
    """``to`` as an agent id, with its handle when this process has it: an ``Agent`` (of any
    core), an agent id ``name@instance`` (of any process), or a name (this core's agent)."""
    from ccs.client.agent import Agent

    if isinstance(to, Agent):
        return to.id, to
    if not isinstance(to, str):
        raise InvalidArgument(f"to must be an agent, an agent id or a name, got {type(to).__name__}",
                              parameter="to")
    if agent_name(to) != to:  # name@instance: any process's agent
        return to, agent.core._by_id.get(to)
    local = agent.core.agent(to)
    return local.id, local


def handoff(agent: Agent, artifact_id: str, to: object) -> int:
    """Hand the grant on ``artifact_id`` to ``to``; returns the artifact's new epoch."""
    target, local = receiver_id(agent, to)
    entry = agent._lookup(artifact_id)
    if entry is None or entry.state not in (Mesi.EXCLUSIVE, Mesi.MODIFIED):
        raise NotOwner(f"{agent.name} has not taken the grant on {artifact_id!r} (acquire() or "
                       "write() it first)", artifact=artifact_id,
                       current_version=None if entry is None else entry.version)
    if local is not None and agent.coordinator.crash_recovery.enabled:
        local.heartbeat()  # in this process, so live: say so before it is checked
    commit_id = new_commit_id()
    try:
        epoch, seq = agent.core.call_with_retry(lambda: coordinated.handoff(
            agent.coordinator, agent.id, artifact_id, entry.epoch, entry.version, target,
            commit_id))
    except (ConflictError, OutcomeUnknown):
        entry.valid = False
        entry.prefetched = None
        raise
    if local is not None:  # the receiver holds what the giver held: the same version's content
        valid = local._invalid_after.get(artifact_id, -1) <= seq  # no later event heard yet
        local._cache[artifact_id] = replace(
            entry, epoch=epoch, seq=seq, valid=valid, state=Mesi.EXCLUSIVE, prefetched=None,
            hits=0, validated_at=local.core.clock.now())
        local.holds_grants = True
    entry.valid = False  # fenced at the old epoch: the next read refreshes it
    entry.state = Mesi.SHARED
    return epoch
