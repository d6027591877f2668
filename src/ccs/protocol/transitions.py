"""The coherence protocol as pure functions of the records they touch.

Every function takes the current records (``None`` for one that does not exist yet), the request
and ``now``, and returns a :class:`Step`: the records to store, the reply, and the events to
publish after the store commits. No I/O, no clock, no threads: a backend runs a transition
atomically over the named records, which is what makes every engine enforce the same fence.

The rules, in MESI terms:

* a read makes the reader a sharer (S); a peer that held the grant (E/M) is downgraded to S and
  loses the grant, so it can no longer commit under it;
* an acquire makes the caller the exclusive owner (E) and invalidates every other copy,
  preempting a previous owner;
* a commit needs a view that is not stale: the version it was derived from is still the current
  one, and the epoch it was taken at is still the current one. It bumps the version and
  invalidates every other copy;
* crash recovery (the sweep) reclaims the grants of agents whose heartbeats stopped and advances
  the artifact's epoch, so anything that agent derived before the reclaim is fenced off, even if
  the version never moved.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ccs.protocol.errors import (
    ConflictError,
    GrantReclaimed,
    NotOwner,
    StaleEpoch,
    StaleView,
    TransactionConflict,
    VersionConflict,
)
from ccs.protocol.ids import agent_name
from ccs.protocol.messages import Committed, Event, Step, TxnCommitted, View
from ccs.protocol.records import (
    EMPTY,
    ArtifactRecord,
    Content,
    Grant,
    Mesi,
)

# Commit ids each record remembers. Raising it needs care: _may_have_forgotten takes a list
# shorter than this as proof that no id was ever dropped, which a record trimmed to the old
# length would break.
RECENT_COMMIT_IDS = 32


def _with(rec: ArtifactRecord, **changes) -> ArtifactRecord:
    fields = {
        "artifact_id": rec.artifact_id, "version": rec.version, "epoch": rec.epoch,
        "seq": rec.seq, "content": rec.content, "owner": rec.owner, "sharers": rec.sharers,
        "history": rec.history, "commits": rec.commits, "last_reclaim": rec.last_reclaim,
        "updated_at": rec.updated_at, "updated_by": rec.updated_by,
    }
    fields.update(changes)
    return ArtifactRecord(**fields)


def _sharers(d: dict[str, int]) -> Mapping[str, int]:
    return MappingProxyType(d) if d else EMPTY


def _view(rec: ArtifactRecord, agent: str, known_version: int | None) -> View:
    return View(rec.artifact_id, rec.version, rec.epoch, rec.seq, rec.content,
                rec.view_of(agent), known_version != rec.version)


def _others(rec: ArtifactRecord, agent: str) -> tuple[str, ...]:
    """Agents other than ``agent`` holding any copy or the grant: who must be invalidated."""
    sharers, owner = rec.sharers, rec.owner
    if (owner is None or owner.agent == agent) and (
            not sharers or (len(sharers) == 1 and agent in sharers)):
        return ()  # the steady state of repeated commits: nobody else holds anything
    targets = [a for a in rec.sharers if a != agent]
    if rec.owner is not None and rec.owner.agent != agent and rec.owner.agent not in targets:
        targets.append(rec.owner.agent)
    return tuple(sorted(targets))


def _who(agent: str | None, me: str | None = None) -> str | None:
    """An agent as errors and reasons name it: its readable name (ids are ``name@instance``),
    marked when it is another instance of the caller's own name."""
    if agent is None:
        return None
    name = agent_name(agent)
    if me is not None and agent != me and name == agent_name(me):
        return f"{name} (another instance)"
    return name


def _fence(rec: ArtifactRecord, agent: str, epoch: int) -> None:
    """Refuse a request made under an epoch that crash recovery has since advanced."""
    if epoch == rec.epoch:
        return
    reclaim = rec.last_reclaim
    if reclaim is not None and reclaim.agent == agent and epoch <= reclaim.fenced_epoch:
        raise GrantReclaimed(
            f"{_who(agent)}'s grant on {rec.artifact_id!r} was reclaimed at epoch {reclaim.fenced_epoch}"
            f" ({reclaim.reason}); this request was made under epoch {epoch}",
            artifact=rec.artifact_id, current_version=rec.version, current_epoch=rec.epoch,
            reason=reclaim.reason, request_epoch=epoch,
        )
    raise StaleEpoch(
        f"{rec.artifact_id!r} is at epoch {rec.epoch}; this request was made under epoch {epoch}",
        artifact=rec.artifact_id, current_version=rec.version, current_epoch=rec.epoch,
        request_epoch=epoch,
    )


def _matches(rec: ArtifactRecord, base_version: int) -> bool:
    """Whether a write derived from ``base_version`` is derived from the current state. Version 0
    means "absent", which a tombstone (a deleted artifact) still is: creating over it loses nothing."""
    return base_version == rec.version or (base_version == 0 and not rec.exists)


def _check_base(rec: ArtifactRecord, agent: str, base_version: int | None) -> None:
    if base_version is not None and not _matches(rec, base_version):
        derived = f"expected {rec.artifact_id!r} to be absent (it had not read it, or read it as absent)" \
            if base_version == 0 else f"derived its write from version {base_version} of {rec.artifact_id!r}"
        raise StaleView(
            f"{_who(agent)} {derived},"
            f" but version {rec.version} was committed since (by {_who(rec.updated_by, agent)})",
            artifact=rec.artifact_id, current_version=rec.version, current_epoch=rec.epoch,
            base_version=base_version, committed_by=_who(rec.updated_by, agent),
        )


def _check_grant(rec: ArtifactRecord | None, artifact_id: str, agent: str,
                 grant_epoch: int) -> ArtifactRecord:
    """Refuse unless ``agent`` holds the grant, taken at an epoch not fenced since."""
    if rec is None:
        raise NotOwner(f"{_who(agent)} holds no grant on {artifact_id!r}", artifact=artifact_id,
                       current_version=0, current_epoch=0)
    _fence(rec, agent, grant_epoch)
    owner = rec.owner
    if owner is None or owner.agent != agent:
        holder = "nobody" if owner is None else _who(owner.agent, agent)
        raise NotOwner(
            f"{_who(agent)} no longer holds the grant on {artifact_id!r} (now held by {holder})",
            artifact=artifact_id, current_version=rec.version, current_epoch=rec.epoch,
            owner=None if owner is None else _who(owner.agent, agent),
        )
    return rec


def _duplicate(rec: ArtifactRecord | None, agent: str, commit_id: str | None) -> Committed | None:
    """The reply to a retried commit that already landed: its own version and epoch, never
    applied twice. ``superseded`` tells the caller its copy of that version is no longer
    registered as current (a peer committed, acquired, or crash recovery moved the epoch since),
    so it must not cache it as fresh."""
    if rec is None or commit_id is None:
        return None
    landed = rec.committed(commit_id)
    if landed is None:
        return None
    version, epoch = landed
    superseded = (version != rec.version or epoch != rec.epoch
                  or rec.view_of(agent) is Mesi.INVALID)
    return Committed(rec.artifact_id, version, epoch, rec.seq, rec.content, duplicate=True,
                     superseded=superseded)


def _may_have_forgotten(rec: ArtifactRecord | None, version: int | None) -> bool:
    """Whether ``rec`` may have dropped a commit id that produced ``version`` (any version when
    ``None``): only the latest RECENT_COMMIT_IDS are kept. When it may not, an id's absence proves
    that commit never landed here."""
    if rec is None or len(rec.commits) < RECENT_COMMIT_IDS:
        return False
    return version is None or rec.commits[0][1] > version


def _refusing(err: ConflictError, commit_id: str | None, forgotten: bool) -> ConflictError:
    """Tell a retry whether this refusal settles its earlier attempt under the same id:
    ``id_forgotten=False`` proves that attempt never landed; True leaves its outcome open."""
    if commit_id is not None:
        err.details["id_forgotten"] = forgotten
    return err


def _apply_commit(
    rec: ArtifactRecord, agent: str, content: Content, now: float, commit_id: str | None,
    retain: int, *, take_ownership: bool,
) -> tuple[ArtifactRecord, Event | None]:
    targets = _others(rec, agent)
    version = rec.version + 1
    history = rec.history
    if retain > 0 and rec.content.digest is not None:
        history = (*rec.history, (rec.version, rec.content.digest))[-retain:]
    elif retain <= 0:
        history = ()
    commits = rec.commits
    if commit_id is not None:
        commits = (*rec.commits, (commit_id, version, rec.epoch))[-RECENT_COMMIT_IDS:]
    held = rec.owner
    keeps_grant = held is not None and held.agent == agent
    if keeps_grant and held.dirty and held.epoch == rec.epoch:
        owner, sharers = held, EMPTY  # the grant it already holds, unchanged: no new record
    elif take_ownership or keeps_grant:
        granted_at = held.granted_at if keeps_grant else now
        owner, sharers = Grant(agent, rec.epoch, granted_at, dirty=True), EMPTY
    else:
        owner, sharers = None, MappingProxyType({agent: version})
    seq = rec.seq + 1 if targets else rec.seq
    # Spelled out rather than _with(): this is the hot path of every commit.
    new = ArtifactRecord(rec.artifact_id, version, rec.epoch, seq, content, owner, sharers, history,
                         commits, rec.last_reclaim, now, agent)
    event = None
    if targets:
        event = Event("invalidate", rec.artifact_id, version, rec.epoch, seq, agent, targets, "commit")
    return new, event


def _committed_step(new: ArtifactRecord, event: Event | None) -> Step:
    reply = Committed(new.artifact_id, new.version, new.epoch, new.seq, new.content)
    return Step(reply, artifacts={new.artifact_id: new}, events=[event] if event else [])


# --- operations on one artifact ----------------------------------------------------------------

def read(rec: ArtifactRecord | None, artifact_id: str, agent: str,
         known_version: int | None, now: float) -> Step:
    """Register ``agent`` as a sharer and tell it whether its copy (``known_version``) is current.

    Reading an artifact that does not exist registers the reader at version 0, so a later
    create by a peer invalidates it and a create derived from "absent" is checked like any write.
    """
    if rec is None:
        rec = ArtifactRecord(artifact_id, sharers=_sharers({agent: 0}), updated_at=now)
        return Step(_view(rec, agent, known_version), artifacts={artifact_id: rec})
    owner = rec.owner
    if owner is not None and owner.agent == agent:
        return Step(_view(rec, agent, known_version))
    if owner is None and rec.sharers.get(agent) == rec.version:
        return Step(_view(rec, agent, known_version))
    sharers = dict(rec.sharers)
    sharers[agent] = rec.version
    events = []
    seq = rec.seq
    if owner is not None:
        sharers[owner.agent] = rec.version
        seq += 1
        events.append(Event("downgrade", artifact_id, rec.version, rec.epoch, seq, agent,
                            (owner.agent,), "peer read"))
    # Spelled out rather than _with(): every read miss registers here.
    new = ArtifactRecord(artifact_id, rec.version, rec.epoch, seq, rec.content, None,
                         MappingProxyType(sharers), rec.history, rec.commits, rec.last_reclaim,
                         rec.updated_at, rec.updated_by)
    return Step(View(artifact_id, new.version, new.epoch, seq, new.content, Mesi.SHARED,
                     known_version != new.version),
                artifacts={artifact_id: new}, events=events)


def acquire(rec: ArtifactRecord | None, artifact_id: str, agent: str,
            known_version: int | None, now: float) -> Step:
    """Make ``agent`` the exclusive owner (E); every other copy and grant is invalidated."""
    if rec is None:
        rec = ArtifactRecord(artifact_id, updated_at=now)
    if rec.owner is not None and rec.owner.agent == agent:
        return Step(_view(rec, agent, known_version))
    targets = _others(rec, agent)
    seq = rec.seq + 1 if targets else rec.seq
    new = _with(rec, owner=Grant(agent, rec.epoch, now), sharers=EMPTY, seq=seq)
    events = []
    if targets:
        events.append(Event("invalidate", artifact_id, rec.version, rec.epoch, seq, agent,
                            targets, "acquire"))
    return Step(_view(new, agent, known_version), artifacts={artifact_id: new}, events=events)


def commit(rec: ArtifactRecord | None, artifact_id: str, agent: str, grant_epoch: int,
           base_version: int, content: Content, now: float, *,
           commit_id: str | None = None, retain: int = 0) -> Step:
    """Pessimistic commit: only under a standing grant at the current epoch, from a current view."""
    dup = _duplicate(rec, agent, commit_id)
    if dup is not None:
        return Step(dup)
    try:
        rec = _check_grant(rec, artifact_id, agent, grant_epoch)
        _check_base(rec, agent, base_version)
    except ConflictError as err:
        raise _refusing(err, commit_id, _may_have_forgotten(rec, base_version + 1)) from None
    return _committed_step(*_apply_commit(rec, agent, content, now, commit_id, retain,
                                          take_ownership=True))


def write(rec: ArtifactRecord | None, artifact_id: str, agent: str, base_version: int | None,
          base_epoch: int | None, content: Content, now: float, *,
          commit_id: str | None = None, retain: int = 0) -> Step:
    """Acquire (if needed) and commit in one step; the agent ends as owner (M).

    ``base_version``/``base_epoch`` are the view the new content was derived from. ``None`` for
    both is a blind write: no check, last write wins. Only callers that document it pass None.
    """
    dup = _duplicate(rec, agent, commit_id)
    if dup is not None:
        return Step(dup)
    if rec is None:
        rec = ArtifactRecord(artifact_id, updated_at=now)
    try:
        if base_epoch is not None and base_epoch != rec.epoch:  # (the common case skips _fence)
            try:
                _fence(rec, agent, base_epoch)
            except StaleEpoch:
                _check_base(rec, agent, base_version)  # a moved version is the clearer message
                raise
        if base_version != rec.version:  # a view of the current version passes _check_base
            _check_base(rec, agent, base_version)
    except ConflictError as err:
        landing = None if base_version is None else base_version + 1
        raise _refusing(err, commit_id, _may_have_forgotten(rec, landing)) from None
    return _committed_step(*_apply_commit(rec, agent, content, now, commit_id, retain,
                                          take_ownership=True))


def commit_cas(rec: ArtifactRecord | None, artifact_id: str, agent: str, expected_version: int,
               read_epoch: int | None, content: Content, now: float, *,
               commit_id: str | None = None, retain: int = 0) -> Step:
    """Optimistic commit: lands only if the artifact is still at ``expected_version`` and the
    epoch the caller read at. Of racing CAS commits on one artifact exactly one wins."""
    dup = _duplicate(rec, agent, commit_id)
    if dup is not None:
        return Step(dup)
    if rec is None:
        rec = ArtifactRecord(artifact_id, updated_at=now)
    try:
        if expected_version != rec.version and not _matches(rec, expected_version):
            raise VersionConflict(
                f"compare-and-set on {artifact_id!r} expected version {expected_version},"
                f" found {rec.version} (committed by {_who(rec.updated_by, agent)})",
                artifact=artifact_id, current_version=rec.version, current_epoch=rec.epoch,
                expected_version=expected_version, current_digest=rec.content.digest,
            )
        if read_epoch is not None and read_epoch != rec.epoch:
            _fence(rec, agent, read_epoch)
    except ConflictError as err:
        raise _refusing(err, commit_id, _may_have_forgotten(rec, expected_version + 1)) from None
    return _committed_step(*_apply_commit(rec, agent, content, now, commit_id, retain,
                                          take_ownership=False))


def release(rec: ArtifactRecord | None, agent: str) -> Step:
    """Give up the grant voluntarily, keeping a shared copy (E/M -> S)."""
    if rec is None or rec.owner is None or rec.owner.agent != agent:
        return Step(None)
    new = _with(rec, owner=None, sharers=_sharers({**rec.sharers, agent: rec.version}))
    return Step(None, artifacts={rec.artifact_id: new})


def evict(rec: ArtifactRecord | None, agent: str) -> Step:
    """Drop the agent's copy and grant entirely (-> I)."""
    if rec is None:
        return Step(None)
    owns = rec.owner is not None and rec.owner.agent == agent
    if not owns and agent not in rec.sharers:
        return Step(None)
    sharers = {a: v for a, v in rec.sharers.items() if a != agent}
    new = _with(rec, owner=None if owns else rec.owner, sharers=_sharers(sharers))
    return Step(None, artifacts={rec.artifact_id: new})


# --- multi-artifact transaction -----------------------------------------------------------------

def transaction_commit(
    recs: Mapping[str, ArtifactRecord | None], agent: str,
    reads: Mapping[str, tuple[int, int | None]], writes: Mapping[str, Content], now: float, *,
    commit_id: str | None = None, retain: int = 0,
) -> Step:
    """Serializable read-set commit: all writes land only if every read is still current.

    ``reads`` maps each artifact read to the ``(version, epoch)`` read (epoch ``None``: never
    seen, e.g. a create expecting version 0; only the version is checked). All conflicts are
    reported together, so the caller can refresh everything it needs at once.
    """
    if commit_id is not None and writes:
        dups = {aid: _duplicate(recs.get(aid), agent, commit_id) for aid in writes}
        if any(d is not None for d in dups.values()):  # all or nothing: one proves them all
            for aid, d in dups.items():
                if d is None:  # landed, but this record has forgotten the id since
                    rec = recs.get(aid) or ArtifactRecord(aid)
                    version = reads[aid][0] + 1 if aid in reads else rec.version
                    dups[aid] = Committed(aid, version, rec.epoch, rec.seq, rec.content,
                                          duplicate=True, superseded=True)
            return Step(TxnCommitted(dups, duplicate=True))  # type: ignore[arg-type]
    conflicts = []
    for aid, (version, epoch) in sorted(reads.items()):
        rec = recs.get(aid) or ArtifactRecord(aid)
        if not _matches(rec, version) or (epoch is not None and rec.epoch != epoch):
            conflicts.append({
                "artifact": aid, "read_version": version, "current_version": rec.version,
                "read_epoch": epoch, "current_epoch": rec.epoch, "committed_by": _who(rec.updated_by, agent),
            })
    if conflicts:
        first = conflicts[0]
        forgotten = all(_may_have_forgotten(recs.get(aid), reads[aid][0] + 1 if aid in reads else None)
                        for aid in writes)
        raise _refusing(TransactionConflict(
            f"{len(conflicts)} artifact(s) read by this transaction changed before it committed: "
            + ", ".join(f"{c['artifact']!r} v{c['read_version']}->v{c['current_version']}"
                        for c in conflicts),
            artifact=first["artifact"], current_version=first["current_version"],
            current_epoch=first["current_epoch"], conflicts=conflicts,
        ), commit_id if writes else None, forgotten)
    step = Step(None)
    versions = {}
    for aid, content in sorted(writes.items()):
        rec = recs.get(aid) or ArtifactRecord(aid, updated_at=now)
        new, event = _apply_commit(rec, agent, content, now, commit_id, retain, take_ownership=False)
        step.artifacts[aid] = new
        if event is not None:
            step.events.append(event)
        versions[aid] = Committed(aid, new.version, new.epoch, new.seq, new.content)
    step.reply = TxnCommitted(versions)
    return step
