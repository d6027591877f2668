"""Effect gate and handoff as pure transitions (no I/O), run by ``ccs.coordinator.effects``.

**Effect outbox.** An external side effect (an email, a pull request) is recorded in an outbox
record, a reserved artifact ``ccs::outbox/<key>`` whose version says its state: 1 is *pending*
(decided, maybe run), 2 is *done* (run, result recorded). ``record_intent`` checks, in the same
engine transaction that creates the pending record, that every input is still at the version and
epoch the agent read; so an intent exists only for an effect decided on current inputs, and the
effect is ordered at that transaction in the history of each input. ``finish_intent`` moves a
pending record to done. Neither ever changes an input. ``prune_intent`` removes a done record
whose effect was recorded done before a horizon (retention); a pending one is never removed.

**Handoff.** ``handoff`` passes the exclusive grant from its owner to another agent in one
transition: there is no state in between where nobody (or a third agent) holds it. It advances
the artifact's epoch, as crash recovery does, and records the giver as fenced, so every write
derived from a view taken before the handoff (the giver's included) is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ccs.protocol.errors import ConflictError, UnknownArtifact
from ccs.protocol.ids import RESERVED_PREFIX
from ccs.protocol.messages import Event, Step
from ccs.protocol.records import EMPTY, ArtifactRecord, Content, Grant, Reclaim
from ccs.protocol.transitions import _check_base, _check_grant, _fence, _matches, _who, _with

OUTBOX_PREFIX = RESERVED_PREFIX + "outbox/"
PENDING, DONE = 1, 2  # outbox record versions


def outbox_id(key: str) -> str:
    return OUTBOX_PREFIX + key


@dataclass(frozen=True, slots=True)
class OutboxState:
    """The outbox record after a step: its version (``PENDING`` or ``DONE``) and content.
    ``created`` is True when this step recorded the intent (not an earlier call with the key)."""

    key: str
    version: int
    content: Content
    created: bool = False


def moved_inputs(recs: Mapping[str, ArtifactRecord | None],
                 inputs: Mapping[str, tuple[int, int | None]]) -> list[dict]:
    """The inputs no longer at the (version, epoch) they were read at, each with what it is now."""
    moved = []
    for aid, (version, epoch) in sorted(inputs.items()):
        rec = recs.get(aid) or ArtifactRecord(aid)
        if not _matches(rec, version) or (epoch is not None and rec.epoch != epoch):
            moved.append({"artifact": aid, "read_version": version, "current_version": rec.version,
                          "read_epoch": epoch, "current_epoch": rec.epoch,
                          "committed_by": _who(rec.updated_by)})
    return moved


def _refusal(recs: Mapping[str, ArtifactRecord | None], agent: str, key: str,
             inputs: Mapping[str, tuple[int, int | None]], moved: list[dict]) -> ConflictError:
    """The error a write derived from the first moved input would get (``StaleView`` for a moved
    version, ``StaleEpoch``/``GrantReclaimed`` for a moved epoch), naming every moved input."""
    first = moved[0]["artifact"]
    rec = recs.get(first) or ArtifactRecord(first)
    version, epoch = inputs[first]
    try:
        _check_base(rec, agent, version)
        if epoch is not None:
            _fence(rec, agent, epoch)
    except ConflictError as err:
        err.message = f"effect {key!r} not run: {err.message}"
        err.args = (err.message,)
        err.details.update(effect=key, moved=moved, id_forgotten=False)
        return err
    raise AssertionError("moved_inputs reported an input that did not move")


def record_intent(recs: Mapping[str, ArtifactRecord | None], key: str, agent: str,
                  inputs: Mapping[str, tuple[int, int | None]], content: Content, now: float,
                  commit_id: str | None = None) -> Step:
    """Create the pending outbox record of effect ``key`` if every input is still current.

    A key already in the outbox names an effect decided earlier: its record is returned as it is
    (pending or done) and the inputs are not checked again, since that decision stands. A refusal
    proves no earlier attempt under the key landed (a pending record is never removed, and a done
    one only by ``prune_intent`` past its retention horizon), so it carries ``id_forgotten=False``
    for a retry after an unknown outcome."""
    oid = outbox_id(key)
    existing = recs.get(oid)
    if existing is not None and existing.version >= PENDING:
        return Step(OutboxState(key, existing.version, existing.content))
    moved = moved_inputs(recs, inputs)
    if moved:
        raise _refusal(recs, agent, key, inputs, moved)
    commits = () if commit_id is None else ((commit_id, PENDING, 0),)
    rec = ArtifactRecord(oid, version=PENDING, content=content, commits=commits, updated_at=now,
                         updated_by=agent)
    return Step(OutboxState(key, PENDING, content, created=True), artifacts={oid: rec})


def finish_intent(rec: ArtifactRecord | None, key: str, agent: str, content: Content,
                  now: float) -> Step:
    """Mark effect ``key`` done with ``content`` (its record with the result). Done already (a
    concurrent or repeated finish): the recorded state is returned unchanged."""
    if rec is None or rec.version < PENDING:
        raise UnknownArtifact(f"effect {key!r} has no intent in the outbox",
                              artifact=outbox_id(key), current_version=0,
                              recover="run the effect with agent.effect(...).run()")
    if rec.version >= DONE:
        return Step(OutboxState(key, rec.version, rec.content))
    new = _with(rec, version=DONE, content=content, updated_at=now, updated_by=agent)
    return Step(OutboxState(key, DONE, content, created=True), artifacts={new.artifact_id: new})


def prune_intent(rec: ArtifactRecord | None, done_before: float) -> Step:
    """Remove the outbox record ``rec`` if it is done and was recorded done before
    ``done_before``; replies whether it did. Decided on the record as the engine transaction reads
    it, so a record that a concurrent run re-created (pending, or done since) is kept."""
    if rec is None or rec.version < DONE or rec.updated_at >= done_before:
        return Step(False)
    return Step(True, artifacts={rec.artifact_id: None})


# --- handoff ------------------------------------------------------------------------------------

def handoff(rec: ArtifactRecord | None, artifact_id: str, giver: str, giver_epoch: int,
            base_version: int, receiver: str, now: float) -> Step:
    """Pass ``giver``'s exclusive grant to ``receiver`` at a new epoch; every copy is invalidated.

    Refused (nothing changes) unless ``giver`` holds the grant, at ``giver_epoch``, with the
    artifact still at ``base_version``: a write that slipped in since the giver's view took the
    grant away, so the receiver is never handed a version the giver did not see. A repeat of a
    handoff that landed (same giver, epoch and receiver) answers as it did. Replies with the
    new (epoch, seq)."""
    if rec is not None and rec.owner is not None and rec.owner.agent == receiver \
            and rec.last_reclaim is not None and rec.last_reclaim.agent == giver \
            and rec.last_reclaim.fenced_epoch == giver_epoch and rec.epoch == giver_epoch + 1:
        return Step((rec.epoch, rec.seq))
    rec = _check_grant(rec, artifact_id, giver, giver_epoch)
    _check_base(rec, giver, base_version)
    epoch, seq = rec.epoch + 1, rec.seq + 1
    reason = f"handed off to {_who(receiver, giver)}"
    new = _with(rec, epoch=epoch, seq=seq, owner=Grant(receiver, epoch, now), sharers=EMPTY,
                last_reclaim=Reclaim(giver, rec.epoch, reason, now))
    targets = tuple(sorted({giver, receiver, *rec.sharers}))
    event = Event("invalidate", artifact_id, rec.version, epoch, seq, giver, targets, "handoff")
    return Step((epoch, seq), artifacts={artifact_id: new}, events=[event])
