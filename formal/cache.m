-- cache.m: the client cache and the invalidation bus of the agent-coherence protocol, on one
-- artifact: ccs.client.agent (Agent._install, _install_commit, _on_event, _invalid_after) over
-- the store transitions of ccs.protocol.transitions (read, acquire, write, commit_cas, evict,
-- reclaim/sweep_agent) and the coordinator's composition (events published after the commit,
-- commit retries with the same commit id).  Grants, fences and epochs are checked in ccs.m (they
-- are kept here as well); this model adds what decides who is invalidated and when.
--
-- Events (invalidate, reclaim) travel through a lossy bus: each may be delivered late, out of
-- order, or dropped.  Event seq numbers are only ever compared (<, <=) by the client, so after
-- every step they are renamed to their rank among the live values (Compress): the state space
-- is finite without bounding the number of events.  At most K events per agent are in flight;
-- one more is lost, which the bus may do anyway.  Downgrade events are not sent (the client
-- only relabels E/M -> S on them).  Versions are bounded by MAXV.
--
-- Rule names follow the Hypothesis state machine; deliver/drop act on an in-flight event,
-- deliver_reply/lost_reply on an agent's pending reply (a lost commit reply is retried with the
-- same commit id, as CoherenceAdapterCore.call_with_retry does).

const
  N: 2;            -- agents
  MAXV: 2;         -- versions explored
  K: 1;            -- undelivered events per agent
  MAXS: 11;        -- >= 1 + (4+K)*N: live seq values after compression

  -- client strategy: eager refetches on every invalidation (ccs.client.strategies "eager")
  EAGER: false;
  LOST_REPLIES: true;
  ALL_ACTIONS: false;    -- commit, commit_cas, release, crash (checked in ccs.m) add nothing here
  TELL: false;           -- track versions told (MonotonicVersion is checked in ccs.m)
  -- cache-coherence properties (the implementation does NOT guarantee them; see README)
  CHECK_CC: false;       -- invariant CacheCoherence
  CHECK_BS: false;       -- invariant BoundedStaleness
  CHECK_TRACKED: true;
  -- candidate fixes for the two coherence findings
  FIX_DUP_REPLY: false;      -- a duplicate commit reply is installed as invalid
  FIX_SWEEP_NOTIFY: false;   -- a sweep that drops a sharer sends it an invalidation

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
  M_INSTALL_IGNORES_INVALID_AFTER: false; -- Agent._install ignores _invalid_after

type
  Agent: scalarset(N);
  Ver: 0..MAXV;
  Seq: 0..MAXS;
  OptSeq: -1..MAXS;
  EpTag: enum { EpNone, EpFresh, EpStale };     -- an epoch carried by a request
  LiveState: enum { Absent, Live, Expired };    -- the agent's liveness record (AgentRecord)
  ReplyKind: enum { RNone, RView, ROk, RConflict };
  EvKind: enum { ENone, EInval, EReclaim };

  Entry: record            -- client cache entry (ccs.client.agent.Entry)
    present: boolean;
    ver: Ver;
    fresh: boolean;        -- entry.epoch == artifact epoch
    seq: Seq;
    valid: boolean;
  end;

  Reply: record
    kind: ReplyKind;
    ver: Ver;
    fresh: boolean;
    seq: Seq;
    dup: boolean;
  end;

  Msg: record
    kind: EvKind;
    ver: Ver;
  end;

var
  -- the artifact record
  ver: Ver;
  sseq: Seq;
  isOwner: array[Agent] of boolean;
  sharer: array[Agent] of boolean;
  epMoved: boolean;                       -- a reclaim happened: epoch 0 is stale
  landed: array[Agent] of Ver;            -- commit id of the agent's pending call -> version (recent commits)
  -- agent records
  live: array[Agent] of LiveState;
  owned: array[Agent] of boolean;
  crashed: array[Agent] of boolean;
  -- clients
  cache: array[Agent] of Entry;
  invAfter: array[Agent] of OptSeq;       -- Agent._invalid_after
  reply: array[Agent] of Reply;
  inbox: array[Agent] of array[Seq] of Msg;
  -- ghosts
  seen: array[Agent] of Ver;              -- version of the view the agent's next write derives from
  maxTold: array[Agent] of Ver;           -- highest version the agent has been told
  invVer: array[Agent] of Ver;            -- highest version carried by an invalidation delivered
  lostSeq: array[Agent] of OptSeq;        -- highest seq of an event lost on the way to the agent
  histW: array[1..MAXV] of Agent;         -- who committed each version
  lostUpdate: boolean;
  staleApply: boolean;
  falseFailure: boolean;
  falseSuccess: boolean;
  wentBack: boolean;
  liveReclaimed: boolean;
  -- the request of the agent's pending commit call, kept for a retry with the same commit id
  rqKind: array[Agent] of 0..3;     -- 0 none, 1 write, 2 commit, 3 commit_cas
  rqBase: array[Agent] of Ver;
  rqEp: array[Agent] of EpTag;

-- ---------------------------------------------------------------- helpers

function inboxCount(a: Agent): 0..MAXS+1;
var c: 0..MAXS+1;
begin
  c := 0;
  for s: Seq do if inbox[a][s].kind != ENone then c := c + 1; end; end;
  return c;
end;

function usedSeq(v: Seq): boolean;
begin
  if sseq = v then return true; end;
  for a: Agent do
    if cache[a].present & cache[a].seq = v then return true; end;
    if invAfter[a] = v then return true; end;
    if reply[a].kind != RNone & reply[a].seq = v then return true; end;
    if lostSeq[a] = v then return true; end;
    if inbox[a][v].kind != ENone then return true; end;
  end;
  return false;
end;

procedure Compress();
var m: array[Seq] of Seq; r: 0..MAXS+1; box: array[Seq] of Msg;
begin
  r := 0;
  for v: Seq do
    if usedSeq(v) then m[v] := r; r := r + 1; else m[v] := 0; end;
  end;
  sseq := m[sseq];
  for a: Agent do
    if cache[a].present then cache[a].seq := m[cache[a].seq]; else cache[a].seq := 0; end;
    if invAfter[a] >= 0 then invAfter[a] := m[invAfter[a]]; end;
    if reply[a].kind != RNone then reply[a].seq := m[reply[a].seq]; end;
    if lostSeq[a] >= 0 then lostSeq[a] := m[lostSeq[a]]; end;
    for s: Seq do box[s].kind := ENone; box[s].ver := 0; end;
    for s: Seq do
      if inbox[a][s].kind != ENone then box[m[s]] := inbox[a][s]; end;
    end;
    inbox[a] := box;
  end;
end;

-- the bus: one copy of the event for one target (events are published after the commit)
procedure Send(t: Agent; k: EvKind; v: Ver);
begin
  if crashed[t] then return; end;
  if inboxCount(t) < K then
    inbox[t][sseq].kind := k; inbox[t][sseq].ver := v;
  else
    if CHECK_BS then lostSeq[t] := sseq; end;     -- the bus lost it
  end;
end;

function othersExist(a: Agent): boolean;   -- transitions._others(rec, a) is non-empty
begin
  return exists b: Agent do b != a & (sharer[b] | isOwner[b]) end;
end;

procedure InvalidateOthers(a: Agent; v: Ver);   -- one "invalidate" event to _others(rec, a)
var t: array[Agent] of boolean;
begin
  for b: Agent do t[b] := b != a & (sharer[b] | isOwner[b]); end;
  sseq := sseq + 1;
  for b: Agent do if t[b] then Send(b, EInval, v); end; end;
end;

procedure SetReply(a: Agent; k: ReplyKind; dup: boolean);
begin
  reply[a].kind := k; reply[a].ver := ver; reply[a].fresh := true;
  reply[a].seq := sseq; reply[a].dup := dup;
end;

procedure NoteOwner(a: Agent);   -- coordinator._note_owner -> transitions.heartbeat(owns=...)
begin
  if !M_NO_NOTE_OWNER then live[a] := Live; owned[a] := true; end;
end;

-- transitions.read
procedure StoreRead(a: Agent);
begin
  if isOwner[a] then return; end;
  if (forall b: Agent do !isOwner[b] end) & sharer[a] then return; end;
  sharer[a] := true;
  for o: Agent do
    if isOwner[o] & o != a then
      sharer[o] := true;
      if !M_READ_NO_DOWNGRADE then isOwner[o] := false; end;
      sseq := sseq + 1;            -- "downgrade" event (not sent: label only, see header)
    end;
  end;
end;

-- transitions._apply_commit
procedure ApplyCommit(a: Agent; take: boolean);
var keeps: boolean; hasT: boolean;
begin
  hasT := othersExist(a);
  keeps := isOwner[a];
  if seen[a] != ver then lostUpdate := true; end;
  ver := ver + 1;
  histW[ver] := a;
  landed[a] := ver;
  if hasT then InvalidateOthers(a, ver); end;
  for b: Agent do isOwner[b] := false; sharer[b] := false; end;
  if take | keeps then isOwner[a] := true; else sharer[a] := true; end;
end;

function reqEpoch(a: Agent): EpTag;   -- the epoch an entry carries
begin
  if !cache[a].present then return EpNone; end;
  if cache[a].fresh then return EpFresh; end;
  return EpStale;
end;

-- client install of a reply (Agent._install / _install_commit)
procedure Install(a: Agent; valid: boolean);
begin
  cache[a].present := true;
  cache[a].ver := reply[a].ver;
  cache[a].fresh := reply[a].fresh;
  cache[a].seq := reply[a].seq;
  cache[a].valid := valid;
end;

procedure Tell(a: Agent; v: Ver);
begin
  if !TELL then return; end;
  if v < maxTold[a] then wentBack := true; end;
  if v > maxTold[a] then maxTold[a] := v; end;
end;

function idle(a: Agent): boolean;
begin
  return !crashed[a] & reply[a].kind = RNone;
end;

-- the three commit requests, run at the store (also on a retry with the same commit id)
procedure DoWrite(a: Agent; base: Ver; ep: EpTag);
begin
  if landed[a] != 0 & !M_NO_DEDUP then
    reply[a].kind := ROk; reply[a].ver := landed[a]; reply[a].fresh := true;
    reply[a].seq := sseq; reply[a].dup := true; return;
  end;
  if ep = EpStale & !M_WRITE_NO_FENCE then SetReply(a, RConflict, false); return; end;
  if base != ver & !M_WRITE_NO_BASE then SetReply(a, RConflict, false); return; end;
  if ver = MAXV then SetReply(a, RConflict, false); return; end;  -- bound (not a protocol rule)
  if ep = EpStale then staleApply := true; end;
  ApplyCommit(a, true);
  NoteOwner(a);
  SetReply(a, ROk, false);
end;

procedure DoCommit(a: Agent; base: Ver; ep: EpTag);
begin
  if landed[a] != 0 & !M_NO_DEDUP then
    reply[a].kind := ROk; reply[a].ver := landed[a]; reply[a].fresh := true;
    reply[a].seq := sseq; reply[a].dup := true; return;
  end;
  if ep = EpStale then SetReply(a, RConflict, false); return; end;
  if !isOwner[a] then SetReply(a, RConflict, false); return; end;
  if base != ver then SetReply(a, RConflict, false); return; end;
  if ver = MAXV then SetReply(a, RConflict, false); return; end;
  ApplyCommit(a, true);
  SetReply(a, ROk, false);
end;

procedure DoCas(a: Agent; expected: Ver; ep: EpTag);
begin
  if landed[a] != 0 & !M_NO_DEDUP then
    reply[a].kind := ROk; reply[a].ver := landed[a]; reply[a].fresh := true;
    reply[a].seq := sseq; reply[a].dup := true; return;
  end;
  if expected != ver & !M_CAS_NO_VERSION then SetReply(a, RConflict, false); return; end;
  if ep = EpStale & !M_CAS_NO_FENCE then SetReply(a, RConflict, false); return; end;
  if ver = MAXV then SetReply(a, RConflict, false); return; end;
  if ep = EpStale then staleApply := true; end;
  ApplyCommit(a, false);
  SetReply(a, ROk, false);
end;

procedure Send_Commit(a: Agent);
begin
  if rqKind[a] = 1 then DoWrite(a, rqBase[a], rqEp[a]);
  elsif rqKind[a] = 2 then DoCommit(a, rqBase[a], rqEp[a]);
  elsif rqKind[a] = 3 then DoCas(a, rqBase[a], rqEp[a]);
  end;
end;

-- ---------------------------------------------------------------- agent actions

ruleset a: Agent do

  rule "read"
    idle(a)
  ==>
  begin
    if cache[a].present & cache[a].valid then      -- cache hit (lazy strategy)
      Tell(a, cache[a].ver);
      seen[a] := cache[a].ver;
    else
      StoreRead(a);
      SetReply(a, RView, false);
    end;
    Compress();
  end;

  rule "acquire"
    idle(a)
  ==>
  begin
    if !isOwner[a] then
      if othersExist(a) then InvalidateOthers(a, ver); end;
      for b: Agent do
        if !M_ACQUIRE_KEEPS_OWNER then isOwner[b] := false; end;
        sharer[b] := false;
      end;
      isOwner[a] := true;
      NoteOwner(a);
    end;
    SetReply(a, RView, false);
    Compress();
  end;

  rule "write"           -- Agent.write: base (version, epoch) from the cache entry
    idle(a)
  ==>
  begin
    rqKind[a] := 1;
    if cache[a].present then rqBase[a] := cache[a].ver; else rqBase[a] := 0; end;
    rqEp[a] := reqEpoch(a);
    Send_Commit(a);
    Compress();
  end;

  rule "commit"          -- Agent.commit: strict, under the grant
    ALL_ACTIONS & idle(a)
  ==>
  begin
    rqKind[a] := 2;
    if cache[a].present then
      rqBase[a] := cache[a].ver; rqEp[a] := reqEpoch(a);
    else
      rqBase[a] := 0;                                  -- (epoch, base) = (0, 0)
      if epMoved then rqEp[a] := EpStale; else rqEp[a] := EpFresh; end;
    end;
    Send_Commit(a);
    Compress();
  end;

  rule "commit_cas"      -- Agent.write_cas: one attempt, from a valid entry
    ALL_ACTIONS & idle(a) & cache[a].present & cache[a].valid
  ==>
  begin
    seen[a] := cache[a].ver;        -- fn(old) is computed from the entry
    Tell(a, cache[a].ver);
    rqKind[a] := 3; rqBase[a] := cache[a].ver; rqEp[a] := reqEpoch(a);
    Send_Commit(a);
    Compress();
  end;

  rule "release"
    ALL_ACTIONS & idle(a)
  ==>
  begin
    if isOwner[a] then isOwner[a] := false; sharer[a] := true; end;
  end;

  rule "evict"
    idle(a)
  ==>
  begin
    isOwner[a] := false; sharer[a] := false;
    cache[a].present := false; cache[a].ver := 0; cache[a].fresh := false;
    cache[a].seq := 0; cache[a].valid := false;
    seen[a] := 0;                   -- a write after evict is a create (base 0, no epoch)
    Compress();
  end;

  rule "heartbeat"
    !crashed[a]
  ==>
  begin
    if live[a] = Absent then owned[a] := false; end;
    live[a] := Live;
  end;

  rule "crash"           -- the process dies: it never acts or heartbeats again
    ALL_ACTIONS & !crashed[a]
  ==>
  begin
    crashed[a] := true;
    cache[a].present := false; cache[a].ver := 0; cache[a].fresh := false;
    cache[a].seq := 0; cache[a].valid := false;
    invAfter[a] := -1; reply[a].kind := RNone; reply[a].ver := 0; reply[a].fresh := false;
    reply[a].seq := 0; reply[a].dup := false; lostSeq[a] := -1;
    for s: Seq do inbox[a][s].kind := ENone; inbox[a][s].ver := 0; end;
    rqKind[a] := 0; rqBase[a] := 0; rqEp[a] := EpNone;
    landed[a] := 0; seen[a] := 0; maxTold[a] := 0; invVer[a] := 0;
    Compress();
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
        sseq := sseq + 1;
        Send(a, EReclaim, ver);
      elsif sharer[a] then
        sharer[a] := false;                            -- silently, no event
        if FIX_SWEEP_NOTIFY then sseq := sseq + 1; Send(a, EInval, ver); end;
      end;
    end;
    live[a] := Absent; owned[a] := false;
    Compress();
  end;

  rule "deliver_reply"
    !crashed[a] & reply[a].kind != RNone
  ==>
  var valid: boolean;
  begin
    valid := invAfter[a] <= reply[a].seq | M_INSTALL_IGNORES_INVALID_AFTER;
    if reply[a].kind = RView then
      Install(a, valid);
      Tell(a, reply[a].ver);
      seen[a] := reply[a].ver;
    elsif reply[a].kind = ROk then
      if isundefined(histW[reply[a].ver]) then falseSuccess := true;
      elsif histW[reply[a].ver] != a then falseSuccess := true;
      end;
      if reply[a].dup & FIX_DUP_REPLY then valid := false; end;
      Install(a, valid);
      Tell(a, reply[a].ver);
      seen[a] := reply[a].ver;      -- the agent's own content is its new basis
    else
      if landed[a] != 0 then falseFailure := true; end;
      if !M_KEEP_ON_CONFLICT & cache[a].present then cache[a].valid := false; end;
      Tell(a, reply[a].ver);        -- the conflict carries the current version
    end;
    reply[a].kind := RNone; reply[a].ver := 0; reply[a].fresh := false;
    reply[a].seq := 0; reply[a].dup := false;
    rqKind[a] := 0; rqBase[a] := 0; rqEp[a] := EpNone; landed[a] := 0;
    Compress();
  end;

  rule "lost_reply"      -- a commit reply never arrives; the call is retried with its commit id
    LOST_REPLIES & !crashed[a] & reply[a].kind != RNone & rqKind[a] != 0
  ==>
  begin
    reply[a].kind := RNone; reply[a].ver := 0; reply[a].fresh := false;
    reply[a].seq := 0; reply[a].dup := false;
    if rqKind[a] != 0 then Send_Commit(a); end;
    Compress();
  end;

  ruleset s: Seq do
    rule "deliver"       -- Agent._on_event for an invalidate or reclaim event
      inbox[a][s].kind != ENone
    ==>
    var k: EvKind;
    begin
      k := inbox[a][s].kind;
      if CHECK_CC & inbox[a][s].ver > invVer[a] then invVer[a] := inbox[a][s].ver; end;
      inbox[a][s].kind := ENone; inbox[a][s].ver := 0;
      if invAfter[a] < s then invAfter[a] := s; end;
      if cache[a].present & cache[a].seq < s then
        cache[a].valid := false;
        if EAGER & k = EInval then        -- refetch_on_invalidate: read and install now
          StoreRead(a);
          cache[a].ver := ver; cache[a].fresh := true; cache[a].seq := sseq;
          cache[a].valid := invAfter[a] <= sseq;
        end;
      end;
      Compress();
    end;

    rule "drop"
      inbox[a][s].kind != ENone
    ==>
    begin
      inbox[a][s].kind := ENone; inbox[a][s].ver := 0;
      if CHECK_BS & lostSeq[a] < s then lostSeq[a] := s; end;
      Compress();
    end;
  end;
end;

startstate
begin
  ver := 0; sseq := 0; epMoved := false;
  for a: Agent do
    isOwner[a] := false; sharer[a] := false; landed[a] := 0;
    live[a] := Absent; owned[a] := false; crashed[a] := false;
    cache[a].present := false; cache[a].ver := 0; cache[a].fresh := false;
    cache[a].seq := 0; cache[a].valid := false;
    invAfter[a] := -1;
    reply[a].kind := RNone; reply[a].ver := 0; reply[a].fresh := false;
    reply[a].seq := 0; reply[a].dup := false;
    for s: Seq do inbox[a][s].kind := ENone; inbox[a][s].ver := 0; end;
    seen[a] := 0; maxTold[a] := 0; invVer[a] := 0; lostSeq[a] := -1;
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

invariant "CacheCoherence"      -- a valid copy is never older than an invalidation its agent got
  CHECK_CC -> forall a: Agent do
    (cache[a].present & cache[a].valid) -> cache[a].ver >= invVer[a]
  end;

invariant "BoundedStaleness"    -- between calls, a valid but outdated copy always has its
  CHECK_BS -> forall a: Agent do  -- invalidation in flight, or the bus lost it
    (cache[a].present & cache[a].valid & cache[a].ver < ver & reply[a].kind = RNone) ->
      ((exists s: Seq do inbox[a][s].kind != ENone & s > cache[a].seq end)
       | lostSeq[a] > cache[a].seq)
  end;

liveness "DeadGrantReclaimed"   -- AG EF: a crashed agent's grant can always still be taken back
  forall a: Agent do crashed[a] -> !isOwner[a] end;
