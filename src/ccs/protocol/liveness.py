"""Liveness, the ownership index and crash recovery, as pure functions of the records they touch.

An agent's liveness record says until when it is alive. Which artifacts it may hold grants on is
kept in the ownership index, one entry per (agent, artifact), so taking a grant touches three
small records (the artifact, the liveness record, its own entry) whatever the agent already owns.
The liveness record counts the agent's entries (``indexed``). That count is what lets the sweep
fail closed:

* it looks up the entries, then reclaims, in one transaction with the liveness record, the
  artifacts those entries name and removes the entries it locked;
* when the count says more entries exist than it locked, it keeps the record with the
  difference: either an entry was added after it looked (it looks again) or an entry is missing
  from the index (damage); then the coordinator scans every artifact record for grants of that
  agent (``sweep_agent(..., scanned=...)``), so a missing entry costs a scan, never a grant that
  lives forever.

The sweep never touches an agent whose record has not expired, so damage cannot reclaim a live
agent's grant either. Records written by the previous layout list the artifacts in ``owned``:
the sweep reclaims those too, and nothing adds to that list any more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ccs.protocol.messages import Event, ReclaimNote, Step
from ccs.protocol.records import AgentRecord, ArtifactRecord, Reclaim
from ccs.protocol.transitions import _sharers, _who, _with


def heartbeat(rec: AgentRecord | None, agent: str, ttl: float, now: float) -> AgentRecord:
    if rec is None:
        return AgentRecord(agent, now + ttl, ttl)
    return AgentRecord(agent, now + ttl, ttl, rec.owned, rec.indexed)


def upgrade(rec: AgentRecord | None, missing: list[str], listed: list[str]) -> Step:
    """Move a record of the previous layout into the index: the artifacts of its ``owned`` list
    whose entries were locked (``missing`` from the index, or already ``listed``) become entries,
    counted; any other stays in the list. The reply is the record as stored."""
    if rec is None or not rec.owned:
        return Step(rec)
    add = [a for a in missing if a in rec.owned]
    moved = set(add) | {a for a in listed if a in rec.owned}
    new = AgentRecord(rec.agent_id, rec.expires_at, rec.ttl, rec.owned - moved,
                      rec.indexed + len(add))
    return Step(new, agents={rec.agent_id: new}, owns={(rec.agent_id, a): True for a in add})


def note_grant(rec: AgentRecord | None, listed: bool, agent: str, artifact_id: str, ttl: float,
               now: float, *, into: Step | None = None) -> Step:
    """``agent`` took the grant on ``artifact_id``: refresh its liveness and make sure the index
    lists the artifact. ``listed``: its index entry exists. Skips the write when the artifact is
    listed and the record was refreshed less than half a ttl ago (the steady state). The changes
    go into ``into`` (the step of the transition that took the grant), else a new step."""
    step = Step(None) if into is None else into
    known = listed or (rec is not None and artifact_id in rec.owned)
    if known and rec is not None and rec.expires_at - now > ttl / 2:
        return step
    if rec is None:  # a fresh record counts its entry, whether it adds it or finds it
        step.agents[agent] = AgentRecord(agent, now + ttl, ttl, indexed=1)
    else:
        step.agents[agent] = AgentRecord(agent, now + ttl, ttl, rec.owned,
                                         rec.indexed + (0 if known else 1))
    if not known:
        step.owns[(agent, artifact_id)] = True
    return step


def note_handoff(step: Step, receiver: AgentRecord, receiver_listed: bool,
                 giver: AgentRecord | None, giver_listed: bool, giver_id: str,
                 artifact_id: str) -> Step:
    """Move ``artifact_id``'s index entry from the giver to the receiver in the handoff's own
    transaction. The receiver's expiry is left as it is (a handoff is not its heartbeat)."""
    if not receiver_listed and artifact_id not in receiver.owned:
        step.owns[(receiver.agent_id, artifact_id)] = True
        step.agents[receiver.agent_id] = AgentRecord(
            receiver.agent_id, receiver.expires_at, receiver.ttl, receiver.owned,
            receiver.indexed + 1)
    if giver_listed:
        step.owns[(giver_id, artifact_id)] = False
        if giver is not None:
            step.agents[giver_id] = AgentRecord(giver_id, giver.expires_at, giver.ttl,
                                                giver.owned, max(giver.indexed - 1, 0))
    return step


def reclaim(rec: ArtifactRecord, agent: str, reason: str, now: float
            ) -> tuple[ArtifactRecord, Event | None, ReclaimNote | None]:
    """Take ``agent``'s grant, if it still holds it, and advance the epoch.

    Its copy stays registered (S at the current version): should the agent be alive after all,
    later commits still invalidate it, while anything it derived before the reclaim is fenced."""
    owner = rec.owner
    if owner is None or owner.agent != agent:
        return rec, None, None
    seq = rec.seq + 1
    new = _with(rec, owner=None, sharers=_sharers({**rec.sharers, agent: rec.version}),
                epoch=rec.epoch + 1, seq=seq, last_reclaim=Reclaim(agent, rec.epoch, reason, now))
    event = Event("reclaim", rec.artifact_id, rec.version, new.epoch, seq, None, (agent,), reason)
    note = ReclaimNote(agent, rec.artifact_id, rec.epoch, new.epoch, reason)
    return new, event, note


def sweep_agent(agent_rec: AgentRecord | None, artifacts: Mapping[str, ArtifactRecord | None],
                now: float, entries: Iterable[str] = (), *, scanned: int | None = None) -> Step:
    """Reclaim every grant of one agent whose liveness expired; a live agent is left alone.

    ``artifacts`` are the records the caller locked; ``entries`` the artifacts whose index entries
    it locked and found. Normally the record keeps counting the entries not found (added since
    the caller looked, or missing). ``scanned`` marks a scan of every artifact record made after
    reading a record that counted ``scanned`` entries: every grant the agent held then was
    found, so only entries counted since are kept. Legacy ``owned`` artifacts not locked stay."""
    if agent_rec is None or not agent_rec.expired(now):
        return Step([])
    overdue = now - agent_rec.expires_at
    reason = (f"no heartbeat from {_who(agent_rec.agent_id)} for {agent_rec.ttl + overdue:.3f}s"
              f" (ttl {agent_rec.ttl:g}s)")
    step = Step([])
    found = sorted(set(entries))
    for aid in found:
        step.owns[(agent_rec.agent_id, aid)] = False
    unlocked = frozenset(aid for aid in agent_rec.owned if aid not in artifacts)
    left = max(agent_rec.indexed - (len(found) if scanned is None else scanned), 0)
    step.agents[agent_rec.agent_id] = AgentRecord(
        agent_rec.agent_id, agent_rec.expires_at, agent_rec.ttl, unlocked, left) \
        if unlocked or left else None
    for aid in sorted(artifacts):
        rec = artifacts[aid]
        if rec is None:
            continue
        new, event, note = reclaim(rec, agent_rec.agent_id, reason, now)
        if new is not rec:
            step.artifacts[aid] = new
        if event is not None:
            step.events.append(event)
        if note is not None:
            step.reply.append(note)
    return step
