-- ccs.m: the agent-coherence protocol on ONE artifact, as implemented in
--   src/ccs/protocol/transitions.py   (store side: read, acquire, write, commit, commit_cas,
--                                       release, evict, heartbeat, reclaim, sweep_agent)
--   src/ccs/coordinator/coordinator.py (composition: _note_owner, sweep over expired agents,
--                                       events published after the transaction)
--   src/ccs/client/agent.py            (the client cache: _install, _install_commit, _on_event,
--                                       _invalid_after, base (version, epoch) sent with writes)
-- Rule names are the action names of the Hypothesis state machine (tests/test_model_stateful.py):
-- read, acquire, write, commit, commit_cas, release, evict, heartbeat, crash, sweep, clock_jump,
-- lost_reply, plus deliver_reply (a reply reaches the client), deliver / drop (an invalidation
-- reaches its target / is lost by the bus).  See formal/README.md.
--
-- Abstractions (all exact for the comparisons the code makes):
--  * epochs: the code only ever compares an epoch with the artifact's current epoch (==), so every
--    stored epoch is kept as "fresh" (equal to the current one) or "stale"; a reclaim marks every
--    copy stale.  The ghost epMoved says whether epoch 0 is still current.
--  * the bus: an invalidation may be delayed or lost, so "deliver" marks an outdated entry invalid
--    at any time (or never).  Event seq numbers and Agent._invalid_after are modelled in cache.m.
--  * versions are bounded by MAXV: a commit that would exceed it is not explored.

const
  N: 2;            -- agents
  MAXV: 2;         -- versions explored
  EAGER: false;    -- (cache.m)
  LOST_REPLIES: true;
  CHECK_TRACKED: true;

  -- mutants: each removes or weakens one guard of the implementation
  M_ACQUIRE_KEEPS_OWNER: false;   -- acquire does not preempt the previous owner
  M_READ_NO_DOWNGRADE: false;     -- a peer read leaves the owner's grant in place
  M_KEEP_ON_CONFLICT: false;      -- Agent._commit does not mark the entry invalid on a conflict
  M_WRITE_NO_BASE: false;         -- write skips _check_base
  M_CAS_NO_VERSION: false;        -- commit_cas skips expected_version == version
  M_WRITE_NO_FENCE: false;        -- write skips _fence
  M_CAS_NO_FENCE: false;          -- commit_cas skips _fence
  M_NO_DEDUP: false;              -- no _duplicate check on a retried commit id
  M_SWEEP_IGNORES_TTL: false;     -- sweep_agent does not check expired(now)
  M_NO_NOTE_OWNER: false;         -- coordinator._note_owner not called: owned set not updated

type
  Agent: scalarset(N);
  Ver: 0..MAXV;
  EpTag: enum { EpNone, EpFresh, EpStale };     -- an epoch carried by a request
  LiveState: enum { Absent, Live, Expired };    -- the agent's liveness record (AgentRecord)
  ReplyKind: enum { RNone, RView, ROk, RConflict };

  Entry: record            -- client cache entry (ccs.client.agent.Entry)
    present: boolean;
    ver: Ver;
    fresh: boolean;        -- entry.epoch == artifact epoch
    valid: boolean;
  end;

  Reply: record
    kind: ReplyKind;
    ver: Ver;
    fresh: boolean;
  end;

var
  -- the artifact record (ArtifactRecord)
  ver: Ver;
  isOwner: array[Agent] of boolean;
  sharer: array[Agent] of boolean;
  epMoved: boolean;                       -- a reclaim happened: epoch 0 is stale
  landed: array[Agent] of Ver;            -- recent commit ids: the pending call's -> version
  -- agent records
  live: array[Agent] of LiveState;
  owned: array[Agent] of boolean;
  crashed: array[Agent] of boolean;
  -- clients
  cache: array[Agent] of Entry;
  reply: array[Agent] of Reply;
  rqKind: array[Agent] of 0..3;           -- pending commit call: 1 write, 2 commit, 3 commit_cas
  rqBase: array[Agent] of Ver;
  rqEp: array[Agent] of EpTag;
  -- ghosts
  seen: array[Agent] of Ver;              -- version of the view the agent's next write derives from
  maxTold: array[Agent] of Ver;           -- highest version the agent has been told
  histW: array[1..MAXV] of Agent;         -- who committed each version
  lostUpdate: boolean;
  staleApply: boolean;
  falseFailure: boolean;
  falseSuccess: boolean;
  wentBack: boolean;
  liveReclaimed: boolean;

-- ---------------------------------------------------------------- store (transitions.py)

function othersExist(a: Agent): boolean;   -- transitions._others(rec, a) is non-empty
begin
  return exists b: Agent do b != a & (sharer[b] | isOwner[b]) end;
end;

procedure SetReply(a: Agent; k: ReplyKind);
begin
  reply[a].kind := k; reply[a].ver := ver; reply[a].fresh := true;
end;

procedure NoteOwner(a: Agent);   -- coordinator._note_owner -> transitions.heartbeat(owns=...)
begin
  if !M_NO_NOTE_OWNER then live[a] := Live; owned[a] := true; end;
end;

procedure StoreRead(a: Agent);   -- transitions.read
begin
  if isOwner[a] then return; end;
  if (forall b: Agent do !isOwner[b] end) & sharer[a] then return; end;
  sharer[a] := true;
  for o: Agent do
    if isOwner[o] & o != a then
      sharer[o] := true;
      if !M_READ_NO_DOWNGRADE then isOwner[o] := false; end;
    end;
  end;
end;

procedure ApplyCommit(a: Agent; take: boolean);   -- transitions._apply_commit
var keeps: boolean;
begin
  keeps := isOwner[a];
  if seen[a] != ver then lostUpdate := true; end;
  ver := ver + 1;
  histW[ver] := a;
  landed[a] := ver;
  for b: Agent do isOwner[b] := false; sharer[b] := false; end;
  if take | keeps then isOwner[a] := true; else sharer[a] := true; end;
end;

function reqEpoch(a: Agent): EpTag;   -- the epoch a cache entry carries
begin
  if !cache[a].present then return EpNone; end;
  if cache[a].fresh then return EpFresh; end;
  return EpStale;
end;

function dedup(a: Agent): boolean;    -- transitions._duplicate
begin
  if landed[a] != 0 & !M_NO_DEDUP then
    reply[a].kind := ROk; reply[a].ver := landed[a]; reply[a].fresh := true;
    return true;
  end;
  return false;
end;

procedure DoWrite(a: Agent; base: Ver; ep: EpTag);   -- transitions.write
begin
  if dedup(a) then return; end;
  if ep = EpStale & !M_WRITE_NO_FENCE then SetReply(a, RConflict); return; end;
  if base != ver & !M_WRITE_NO_BASE then SetReply(a, RConflict); return; end;
  if ver = MAXV then SetReply(a, RConflict); return; end;  -- exploration bound
  if ep = EpStale then staleApply := true; end;
  ApplyCommit(a, true);
  NoteOwner(a);
  SetReply(a, ROk);
end;

procedure DoCommit(a: Agent; base: Ver; ep: EpTag);  -- transitions.commit (strict)
begin
  if dedup(a) then return; end;
  if ep = EpStale then SetReply(a, RConflict); return; end;
  if !isOwner[a] then SetReply(a, RConflict); return; end;
  if base != ver then SetReply(a, RConflict); return; end;
  if ver = MAXV then SetReply(a, RConflict); return; end;
  ApplyCommit(a, true);
  SetReply(a, ROk);
end;

procedure DoCas(a: Agent; expected: Ver; ep: EpTag);  -- transitions.commit_cas
begin
  if dedup(a) then return; end;
  if expected != ver & !M_CAS_NO_VERSION then SetReply(a, RConflict); return; end;
  if ep = EpStale & !M_CAS_NO_FENCE then SetReply(a, RConflict); return; end;
  if ver = MAXV then SetReply(a, RConflict); return; end;
  if ep = EpStale then staleApply := true; end;
  ApplyCommit(a, false);
  SetReply(a, ROk);
end;

procedure SendCommit(a: Agent);
begin
  if rqKind[a] = 1 then DoWrite(a, rqBase[a], rqEp[a]);
  elsif rqKind[a] = 2 then DoCommit(a, rqBase[a], rqEp[a]);
  elsif rqKind[a] = 3 then DoCas(a, rqBase[a], rqEp[a]);
  end;
end;

-- ---------------------------------------------------------------- client (agent.py)

procedure Tell(a: Agent; v: Ver);
begin
  if v < maxTold[a] then wentBack := true; end;
  if v > maxTold[a] then maxTold[a] := v; end;
end;

procedure ClearClient(a: Agent);
begin
  cache[a].present := false; cache[a].ver := 0; cache[a].fresh := false; cache[a].valid := false;
  seen[a] := 0;
end;

function idle(a: Agent): boolean;
begin
  return !crashed[a] & reply[a].kind = RNone;
end;

ruleset a: Agent do

  rule "read"
    idle(a)
  ==>
  begin
    if cache[a].present & cache[a].valid then      -- cache hit
      Tell(a, cache[a].ver);
      seen[a] := cache[a].ver;
    else
      StoreRead(a);
      SetReply(a, RView);
    end;
  end;

  rule "acquire"
    idle(a)
  ==>
  begin
    if !isOwner[a] then
      for b: Agent do
        if !M_ACQUIRE_KEEPS_OWNER then isOwner[b] := false; end;
        sharer[b] := false;
      end;
      isOwner[a] := true;
      NoteOwner(a);
    end;
    SetReply(a, RView);
  end;

  rule "write"           -- Agent.write: base (version, epoch) from the cache entry
    idle(a)
  ==>
  begin
    rqKind[a] := 1;
    if cache[a].present then rqBase[a] := cache[a].ver; else rqBase[a] := 0; end;
    rqEp[a] := reqEpoch(a);
    SendCommit(a);
  end;

  rule "commit"          -- Agent.commit: strict, under the grant
    idle(a)
  ==>
  begin
    rqKind[a] := 2;
    if cache[a].present then
      rqBase[a] := cache[a].ver; rqEp[a] := reqEpoch(a);
    else
      rqBase[a] := 0;                                  -- (epoch, base) = (0, 0)
      if epMoved then rqEp[a] := EpStale; else rqEp[a] := EpFresh; end;
    end;
    SendCommit(a);
  end;

  rule "commit_cas"      -- Agent.write_cas: one attempt, from a valid entry
    idle(a) & cache[a].present & cache[a].valid
  ==>
  begin
    seen[a] := cache[a].ver;        -- fn(old) is computed from the entry
    Tell(a, cache[a].ver);
    rqKind[a] := 3; rqBase[a] := cache[a].ver; rqEp[a] := reqEpoch(a);
    SendCommit(a);
  end;

  rule "release"
    idle(a) & isOwner[a]
  ==>
  begin
    isOwner[a] := false; sharer[a] := true;
  end;

  rule "evict"
    idle(a)
  ==>
  begin
    isOwner[a] := false; sharer[a] := false;
    ClearClient(a);                 -- a write after evict is a create (base 0, no epoch)
  end;

  rule "heartbeat"
    !crashed[a]
  ==>
  begin
    if live[a] = Absent then owned[a] := false; end;
    live[a] := Live;
  end;

  rule "crash"           -- the process dies: it never acts or heartbeats again
    !crashed[a]
  ==>
  begin
    crashed[a] := true;
    ClearClient(a);
    reply[a].kind := RNone; reply[a].ver := 0; reply[a].fresh := false;
    rqKind[a] := 0; rqBase[a] := 0; rqEp[a] := EpNone;
    landed[a] := 0; maxTold[a] := 0;
  end;

  rule "clock_jump"      -- time passes beyond the agent's TTL
    live[a] = Live
  ==>
  begin
    live[a] := Expired;
  end;

  rule "sweep"           -- transitions.sweep_agent for agent a (coordinator.sweep)
    live[a] = Expired | (M_SWEEP_IGNORES_TTL & live[a] = Live)
  ==>
  begin
    if owned[a] then
      if isOwner[a] then                              -- transitions.reclaim
        if live[a] = Live then liveReclaimed := true; end;
        isOwner[a] := false; sharer[a] := false;
        epMoved := true;
        for b: Agent do
          cache[b].fresh := false; reply[b].fresh := false;
          if rqEp[b] = EpFresh then rqEp[b] := EpStale; end;
        end;
      else
        sharer[a] := false;
      end;
    end;
    live[a] := Absent; owned[a] := false;
  end;

  rule "deliver_reply"
    !crashed[a] & reply[a].kind != RNone
  ==>
  begin
    if reply[a].kind = RConflict then
      if landed[a] != 0 then falseFailure := true; end;
      if !M_KEEP_ON_CONFLICT & cache[a].present then cache[a].valid := false; end;
      Tell(a, reply[a].ver);        -- the conflict carries the current version
    else
      if reply[a].kind = ROk then
        if isundefined(histW[reply[a].ver]) then falseSuccess := true;
        elsif histW[reply[a].ver] != a then falseSuccess := true;
        end;
      end;
      cache[a].present := true; cache[a].ver := reply[a].ver;
      cache[a].fresh := reply[a].fresh; cache[a].valid := true;
      Tell(a, reply[a].ver);
      seen[a] := reply[a].ver;
    end;
    reply[a].kind := RNone; reply[a].ver := 0; reply[a].fresh := false;
    rqKind[a] := 0; rqBase[a] := 0; rqEp[a] := EpNone; landed[a] := 0;
  end;

  rule "lost_reply"      -- the reply never arrives; a commit call is retried with its commit id
    LOST_REPLIES & !crashed[a] & reply[a].kind != RNone
  ==>
  begin
    reply[a].kind := RNone; reply[a].ver := 0; reply[a].fresh := false;
    if rqKind[a] != 0 then SendCommit(a); end;
  end;

  rule "deliver"         -- an invalidation reaches a (may be delayed or lost: never forced)
    !crashed[a] & cache[a].present & cache[a].valid & (cache[a].ver != ver | !cache[a].fresh)
  ==>
  begin
    cache[a].valid := false;
  end;
end;

startstate
begin
  ver := 0; epMoved := false;
  for a: Agent do
    isOwner[a] := false; sharer[a] := false; landed[a] := 0;
    live[a] := Absent; owned[a] := false; crashed[a] := false;
    ClearClient(a);
    reply[a].kind := RNone; reply[a].ver := 0; reply[a].fresh := false;
    maxTold[a] := 0;
    rqKind[a] := 0; rqBase[a] := 0; rqEp[a] := EpNone;
  end;
  undefine histW;
  lostUpdate := false; staleApply := false; falseFailure := false; falseSuccess := false;
  wentBack := false; liveReclaimed := false;
end;

-- ---------------------------------------------------------------- properties

invariant "SingleWriter"        -- at most one grant, and no other copy beside it (SWMR)
  forall a: Agent do forall b: Agent do
    a != b -> !(isOwner[a] & isOwner[b]) & !(isOwner[a] & sharer[b])
  end end;

invariant "MonotonicVersion"    -- no agent is told a version older than one it was told before
  !wentBack;

invariant "NoLostUpdate"        -- every landed commit derives from the version it replaces,
  !lostUpdate & !falseSuccess;  -- and every reported success is that agent's link of the chain

invariant "ExactlyOnce"         -- a commit that landed is never reported as refused
  !falseFailure;

invariant "NoStaleApply"        -- no commit carrying a reclaimed epoch lands
  !staleApply;

invariant "LiveGrantNeverReclaimed"
  !liveReclaimed;

invariant "DeadGrantReclaimable"  -- every grant is listed in its holder's liveness record
  CHECK_TRACKED -> forall a: Agent do isOwner[a] -> (live[a] != Absent & owned[a]) end;

liveness "DeadGrantReclaimed"   -- AG EF: a crashed agent's grant can always still be taken back
  forall a: Agent do crashed[a] -> !isOwner[a] end;
