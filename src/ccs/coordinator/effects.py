"""The effect outbox and handoff run as engine transactions of a ``Coordinator``.

Everything goes through ``Coordinator._run_commit``, the path of every commit: one ``transact``
over the named records, so it holds on every engine with no engine-specific code, and the
outbox records and handoffs land in the audit log like any commit or reclaim.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ccs.backends import agent_key, artifact_key, owns_key
from ccs.protocol import effects as fx
from ccs.protocol import liveness
from ccs.protocol import transitions as tr
from ccs.protocol.errors import CorruptState, InvalidArgument
from ccs.protocol.ids import check_agent_id, check_artifact_id
from ccs.protocol.messages import Step
from ccs.protocol.records import AgentRecord, ArtifactRecord, Content

if TYPE_CHECKING:
    from ccs.coordinator.coordinator import Coordinator


def _document(doc: Mapping[str, Any], blobs: dict[str, bytes]) -> Content:
    data = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return Content(digest, len(data), "json")


def read_document(coord: Coordinator, content: Content, key: str) -> dict[str, Any]:
    data = coord.fetch(content, fx.outbox_id(key))
    try:
        return json.loads(data)
    except (TypeError, ValueError) as exc:
        raise CorruptState(f"outbox record of effect {key!r} cannot be decoded: {exc}",
                           artifact=fx.outbox_id(key)) from exc


def record_intent(coord: Coordinator, agent: str, key: str,
                  inputs: Mapping[str, tuple[int, int | None]], doc: Mapping[str, Any],
                  commit_id: str | None = None) -> tuple[fx.OutboxState, dict[str, Any]]:
    """Check the inputs and record the pending intent ``doc`` in one transaction; returns the
    outbox state and document (an earlier call's, if the key was recorded before)."""
    check_agent_id(agent)
    for aid in inputs:
        check_artifact_id(aid)
    blobs: dict[str, bytes] = {}
    content = _document(doc, blobs)
    now = coord._now()
    oid = fx.outbox_id(key)
    ids = sorted({oid, *inputs})
    keys = [artifact_key(a) for a in ids]
    state = coord._run_commit(oid, keys, lambda r: fx.record_intent(
        {a: r[artifact_key(a)] for a in ids}, key, agent, inputs, content, now, commit_id),
        blobs, commit_id, op="effect", agent=agent,
        bases={a: v for a, (v, _) in inputs.items()})
    return state, (dict(doc) if state.created else read_document(coord, state.content, key))


def finish_intent(coord: Coordinator, agent: str, key: str, doc: Mapping[str, Any],
                  commit_id: str | None = None) -> tuple[fx.OutboxState, dict[str, Any]]:
    blobs: dict[str, bytes] = {}
    content = _document(doc, blobs)
    now = coord._now()
    k = artifact_key(fx.outbox_id(key))
    state = coord._run_commit(fx.outbox_id(key), [k], lambda r: fx.finish_intent(
        r[k], key, agent, content, now), blobs, commit_id, op="effect", agent=agent, bases={})
    return state, (dict(doc) if state.created else read_document(coord, state.content, key))


def outbox(coord: Coordinator) -> list[tuple[ArtifactRecord, str]]:
    """Every outbox record with its effect key."""
    out = []
    for k in coord.backend.keys(artifact_key(fx.OUTBOX_PREFIX)):
        rec = coord.backend.get(k)
        if isinstance(rec, ArtifactRecord) and rec.version >= fx.PENDING:
            out.append((rec, rec.artifact_id[len(fx.OUTBOX_PREFIX):]))
    return out


def prunable(coord: Coordinator, older_than: float) -> tuple[list[str], float]:
    """The keys of outbox records done more than ``older_than`` seconds ago by this
    coordinator's clock, and that horizon (the time they must have been done before). A listing
    only: ``prune`` decides each one again in its own transaction."""
    done_before = coord._now() - older_than
    return sorted(key for rec, key in outbox(coord)
                  if rec.version >= fx.DONE and rec.updated_at < done_before), done_before


def prune(coord: Coordinator, agent: str, key: str, done_before: float) -> bool:
    """Remove the outbox record of ``key`` if, as the engine transaction reads it, it is done and
    was done before ``done_before``: a pending record, or one a concurrent run re-created since
    the listing, is kept. Returns whether it removed it; repeating it has the same effect."""
    check_agent_id(agent)
    oid = fx.outbox_id(key)
    k = artifact_key(oid)
    return coord._run([k], lambda r: fx.prune_intent(r[k], done_before), op="prune", agent=agent)


def handoff(coord: Coordinator, giver: str, artifact_id: str, giver_epoch: int,
            base_version: int, receiver: str, commit_id: str | None = None) -> tuple[int, int]:
    """Pass ``giver``'s grant on ``artifact_id`` to ``receiver``; returns the new (epoch, seq).

    With crash recovery on, the receiver must be live (an unexpired liveness record): a grant
    handed to an agent nobody heartbeats for would sit until the sweep. The artifact joins the
    receiver's ownership index, and leaves the giver's, in the same transaction (the receiver's
    expiry is left as it is), so the sweep reclaims it if the receiver stops heartbeating, as for
    a grant it took itself."""
    check_agent_id(giver)
    check_agent_id(receiver)
    check_artifact_id(artifact_id)
    if receiver == giver:
        raise InvalidArgument(f"{giver!r} cannot hand {artifact_id!r} off to itself",
                              parameter="to", artifact=artifact_id)
    now = coord._now()
    key = artifact_key(artifact_id)
    tracks = coord.crash_recovery.enabled
    gets, gives = owns_key(receiver, artifact_id), owns_key(giver, artifact_id)
    keys = [key, agent_key(receiver), gets, agent_key(giver), gives] if tracks else [key]

    def fn(r: dict[str, Any]) -> Step:
        step = fx.handoff(r[key], artifact_id, giver, giver_epoch, base_version, receiver, now)
        if tracks and step.artifacts:
            live: AgentRecord | None = r[agent_key(receiver)]
            if live is None or live.expired(now):
                raise InvalidArgument(
                    f"cannot hand {artifact_id!r} off to {tr._who(receiver)}: it is not live "
                    "(no unexpired heartbeat)", parameter="to", artifact=artifact_id,
                    recover="the receiver must heartbeat (agent.heartbeat()) within the "
                            "heartbeat ttl before the handoff; nothing was changed")
            liveness.note_handoff(step, live, r[gets] is not None, r[agent_key(giver)],
                                  r[gives] is not None, giver, artifact_id)
        return step

    return coord._run_commit(artifact_id, keys, fn, {}, commit_id, op="handoff", agent=giver,
                             bases={artifact_id: base_version})
