-- ccs.m: the agent-coherence protocol on ONE artifact, as implemented in
--   src/ccs/protocol/transitions.py   (store: read, acquire, write, commit, commit_cas, release,
--                                       evict, heartbeat, _duplicate, reclaim, sweep_agent)
--   src/ccs/protocol/liveness.py       (note_grant, heartbeat, reclaim, sweep_agent: the ownership
--                                       index and the count of its entries in the agent record)
--   src/ccs/coordinator/coordinator.py (composition: _note_owner; events are published after the
--   src/ccs/coordinator/sweep.py        transaction; the sweep reads an agent record and lists
--                                       its index entries, then locks them with the artifacts
--                                       they name, or scans every artifact when the record counts
--                                       entries the listing does not find)
--   src/ccs/client/agent.py            (the client cache: _install, _install_commit (superseded),
--                                       _on_event, _invalid_after, Entry.prefetched (eager), the
--                                       base (version, epoch) sent with writes)
-- One file, several focused configurations (check.sh flips the consts below):
--   * BUS = false: an outdated copy may be invalidated at any time, or never ("deliver");
--   * BUS = true : events (invalidate, reclaim) are messages with seq numbers on a lossy,
--                  reordering bus, and the client's seq bookkeeping is modelled exactly;
--   * ASYNC = false: every call returns in the step that makes it (no reply in flight, no retry),
--                  small enough for 3 agents.
-- Rule names are the action names of the Hypothesis state machine (tests/test_model_stateful.py):
-- read, acquire, write, commit, commit_cas, release, evict, heartbeat, crash, clock_jump, sweep,
-- lost_reply, plus sweep_look (the sweep reads the agent record), deliver_reply (a reply reaches
-- the client), deliver / drop (an event reaches its target / is lost).  See formal/README.md.
--
-- Abstractions (exact for the comparisons the code makes):
--  * epochs are only compared with the artifact's current epoch (==): each carried epoch is
--    "fresh" or "stale"; a reclaim marks every copy stale; epMoved says whether epoch 0 is stale.
--  * event seq numbers are only compared (<, <=) by the client: after every step they are renamed
--    to their rank among the live values (Compress), so their number is unbounded.  At most K
--    events per agent are in flight; one more is lost (which the bus may do anyway).  Downgrade
--    events only relabel E/M -> S in the client and are not sent.
--  * versions are bounded by MAXV: a commit that would exceed it is refused (not a protocol rule).

const
  N: 2;            -- agents
  MAXV: 2;         -- versions explored
  ASYNC: true;     -- replies are in flight (deliver_reply / lost_reply)
  LOST_REPLIES: true;
  ALL_ACTIONS: true;    -- commit, commit_cas, release, crash (off in the bus runs)
  TELL: true;           -- track versions told (MonotonicVersion)
  BUS: false;           -- events are messages with seq numbers
  K: 1;                 -- undelivered events per agent (BUS)
  MAXS: 15;             -- seq values after compression: >= 2 + (5+K)*N
  SWEEP_LOOK: true;     -- the sweep reads the agent record before its transaction (false: atomic)
  DAMAGE: false;        -- rule lose_entry: the engine loses the agent's index entry (count kept)
  EAGER: false;         -- strategy "eager": refetch on invalidation, kept aside until next read
  CHECK_TRACKED: true;  -- invariant DeadGrantReclaimable
  CHECK_CC: false;      -- invariant CacheCoherence   (BUS)
  CHECK_BS: false;      -- invariant BoundedStaleness (BUS)
  -- fix of finding F5 (README): a duplicate reply is also superseded when the store no longer
  -- lists the agent's copy (transitions._duplicate)
  FIX_DUP_UNREGISTERED: true;
  -- fix of finding F6 (README): a conflict also discards the eager prefetched view (Agent._commit)
  FIX_CONFLICT_DROPS_PREFETCH: true;

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
  M_NO_NOTE_OWNER: false;         -- coordinator._note_owner not called: liveness, index not updated
  M_GRANT_NO_ENTRY: false;        -- liveness.note_grant refreshes the record, adds no entry/count
  M_SWEEP_NO_SCAN: false;         -- sweep.py never scans: counted entries it cannot find stay unswept
  M_INSTALL_IGNORES_INVALID_AFTER: false; -- Agent._install ignores _invalid_after
  -- the behaviour before the fixes the models found (README "Findings")
  M_DUP_NOT_SUPERSEDED: false;    -- F1: a duplicate reply is installed as current (no superseded)
  M_SWEEP_DROPS_SHARER: false;    -- F2: reclaim drops the agent from sharers, silently if not owner
  M_EAGER_INSTALLS: false;        -- F3: eager installs its refetch at once (the write's base moves)
  M_SWEEP_DROPS_RECORD: false;    -- F4: sweep_agent deletes the record, counting nothing it did not lock

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
    sup: boolean;          -- Committed.superseded
  end;

  Msg: record
    kind: EvKind;
    ver: Ver;
  end;

var
  -- the artifact record (ArtifactRecord)
  ver: Ver;
  sseq: Seq;
  isOwner: array[Agent] of boolean;
  sharer: array[Agent] of boolean;
  epMoved: boolean;                       -- a reclaim happened: epoch 0 is stale
  landed: array[Agent] of Ver;            -- recent commit ids: the pending call's -> version
  -- agent records (AgentRecord) and the sweep
  live: array[Agent] of LiveState;
  idx: array[Agent] of boolean;           -- the agent's ownership index entry of the artifact
  cnt: array[Agent] of 0..2;              -- the entries the agent record counts (indexed)
  lost: array[Agent] of boolean;          -- lose_entry happened (once per agent: bounds cnt)
  crashed: array[Agent] of boolean;
  swLooked: array[Agent] of boolean;      -- Coordinator.sweep has read the record ...
  swLock: array[Agent] of boolean;        -- ... and will lock the artifact (it was listed)
  swScan: array[Agent] of boolean;        -- ... or scan (counted, yet the listing found nothing)
  swSeen: array[Agent] of 0..2;           -- ... the count the record had when it was read
  -- clients
  cache: array[Agent] of Entry;
  pf: array[Agent] of Entry;              -- Entry.prefetched (eager)
  invAfter: array[Agent] of OptSeq;       -- Agent._invalid_after
  reply: array[Agent] of Reply;
  rqKind: array[Agent] of 0..3;           -- pending commit call: 1 write, 2 commit, 3 commit_cas
  rqBase: array[Agent] of Ver;
  rqEp: array[Agent] of EpTag;
  inbox: array[Agent] of array[Seq] of Msg;
  -- ghosts
  seen: array[Agent] of Ver;              -- version of the view the agent's next write derives from
  maxTold: array[Agent] of Ver;           -- highest version the agent has been told
  invVer: array[Agent] of Ver;            -- highest version carried by an event delivered
  lostSeq: array[Agent] of OptSeq;        -- highest seq of an event lost on the way to the agent
  histW: array[1..MAXV] of Agent;         -- who committed each version
  lostUpdate: boolean;
  staleApply: boolean;
  falseFailure: boolean;
  falseSuccess: boolean;
  wentBack: boolean;
  liveReclaimed: boolean;

-- ---------------------------------------------------------------- seq numbers and the bus

function usedSeq(v: Seq): boolean;
begin
  if sseq = v then return true; end;
  for a: Agent do
    if cache[a].present & cache[a].seq = v then return true; end;
    if pf[a].present & pf[a].seq = v then return true; end;
    if invAfter[a] = v then return true; end;
    if reply[a].kind != RNone & reply[a].seq = v then return true; end;
    if lostSeq[a] = v then return true; end;
    if inbox[a][v].kind != ENone then return true; end;
  end;
  return false;
end;

procedure Compress();   -- rename every live seq value to its rank
var m: array[Seq] of Seq; r: 0..MAXS+1; box: array[Seq] of Msg;
begin
  if !BUS then return; end;
  r := 0;
  for v: Seq do
    if usedSeq(v) then m[v] := r; r := r + 1; else m[v] := 0; end;
  end;
  sseq := m[sseq];
  for a: Agent do
    if cache[a].present then cache[a].seq := m[cache[a].seq]; end;
    if pf[a].present then pf[a].seq := m[pf[a].seq]; end;
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

procedure Bump();       -- rec.seq + 1
begin
  if BUS then sseq := sseq + 1; end;
end;

procedure Send(t: Agent; k: EvKind; v: Ver);   -- one event for one target, seq = sseq
var c: 0..MAXS+1;
begin
  if !BUS | crashed[t] then return; end;
  c := 0;
  for s: Seq do if inbox[t][s].kind != ENone then c := c + 1; end; end;
  if c < K then
    inbox[t][sseq].kind := k; inbox[t][sseq].ver := v;
  elsif CHECK_BS then
    lostSeq[t] := sseq;                          -- the bus lost it
  end;
end;

-- ---------------------------------------------------------------- store (transitions.py)

function othersExist(a: Agent): boolean;   -- transitions._others(rec, a) is non-empty
begin
  return exists b: Agent do b != a & (sharer[b] | isOwner[b]) end;
end;

procedure InvalidateOthers(a: Agent);      -- one "invalidate" event to _others(rec, a)
var t: array[Agent] of boolean;
begin
  if !othersExist(a) then return; end;
  for b: Agent do t[b] := b != a & (sharer[b] | isOwner[b]); end;
  Bump();
  for b: Agent do if t[b] then Send(b, EInval, ver); end; end;
end;

procedure SetReply(a: Agent; k: ReplyKind);
begin
  reply[a].kind := k; reply[a].ver := ver; reply[a].fresh := true;
  reply[a].seq := sseq; reply[a].sup := false;
end;

procedure NoteOwner(a: Agent);   -- coordinator._note_owner -> liveness.note_grant
begin
  if M_NO_NOTE_OWNER then return; end;
  if M_GRANT_NO_ENTRY then
    if live[a] = Absent then cnt[a] := 0; end;
  elsif live[a] = Absent then               -- a new record counts its entry, found or added
    idx[a] := true; cnt[a] := 1;
  elsif !idx[a] then
    idx[a] := true; cnt[a] := cnt[a] + 1;
  end;
  live[a] := Live;
end;

procedure Reclaim(a: Agent);     -- liveness.reclaim
begin
  if isOwner[a] then
    if live[a] = Live then liveReclaimed := true; end;
    isOwner[a] := false;
    sharer[a] := !M_SWEEP_DROPS_SHARER;          -- it stays registered at the version
    epMoved := true;
    for b: Agent do
      cache[b].fresh := false; pf[b].fresh := false; reply[b].fresh := false;
      if rqEp[b] = EpFresh then rqEp[b] := EpStale; end;
    end;
    Bump();
    Send(a, EReclaim, ver);
  elsif M_SWEEP_DROPS_SHARER then
    sharer[a] := false;                           -- silently, no event
  end;
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
      Bump();                    -- "downgrade" event (not sent: a label only)
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
  InvalidateOthers(a);
  for b: Agent do isOwner[b] := false; sharer[b] := false; end;
  if take | keeps then isOwner[a] := true; else sharer[a] := true; end;
end;

function dedup(a: Agent): boolean;    -- transitions._duplicate
begin
  if landed[a] = 0 | M_NO_DEDUP then return false; end;
  reply[a].kind := ROk; reply[a].ver := landed[a]; reply[a].fresh := true;
  reply[a].seq := sseq;                             -- rec.seq: the current one
  reply[a].sup := !M_DUP_NOT_SUPERSEDED &
                  (landed[a] != ver | (FIX_DUP_UNREGISTERED & !isOwner[a] & !sharer[a]));
  return true;
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

function reqEpoch(a: Agent): EpTag;   -- the epoch a cache entry carries
begin
  if !cache[a].present then return EpNone; end;
  if cache[a].fresh then return EpFresh; end;
  return EpStale;
end;

procedure Tell(a: Agent; v: Ver);
begin
  if !TELL then return; end;
  if v < maxTold[a] then wentBack := true; end;
  if v > maxTold[a] then maxTold[a] := v; end;
end;

procedure ClearEntry(var e: Entry);
begin
  e.present := false; e.ver := 0; e.fresh := false; e.seq := 0; e.valid := false;
end;

procedure ClearReply(a: Agent);
begin
  reply[a].kind := RNone; reply[a].ver := 0; reply[a].fresh := false;
  reply[a].seq := 0; reply[a].sup := false;
end;

procedure Install(a: Agent; valid: boolean);   -- a new Entry from the reply (_install*)
begin
  cache[a].present := true; cache[a].ver := reply[a].ver; cache[a].fresh := reply[a].fresh;
  cache[a].seq := reply[a].seq; cache[a].valid := valid;
  ClearEntry(pf[a]);
  Tell(a, reply[a].ver);
  seen[a] := reply[a].ver;
end;

procedure DeliverReply(a: Agent);   -- the call returns to the client
var valid: boolean;
begin
  valid := invAfter[a] <= reply[a].seq | M_INSTALL_IGNORES_INVALID_AFTER;
  if reply[a].kind = RView then
    Install(a, valid);
  elsif reply[a].kind = ROk then
    if isundefined(histW[reply[a].ver]) then falseSuccess := true;
    elsif histW[reply[a].ver] != a then falseSuccess := true;
    end;
    if reply[a].sup then                        -- _install_commit: superseded -> entry invalid
      Tell(a, reply[a].ver);
      if cache[a].present then cache[a].valid := false; end;
    else
      Install(a, valid);                        -- its own content is the agent's new basis
    end;
  else
    if landed[a] != 0 then falseFailure := true; end;
    if !M_KEEP_ON_CONFLICT & cache[a].present then cache[a].valid := false; end;
    if FIX_CONFLICT_DROPS_PREFETCH then ClearEntry(pf[a]); end;
    Tell(a, reply[a].ver);                      -- the conflict carries the current version
  end;
  ClearReply(a);
  rqKind[a] := 0; rqBase[a] := 0; rqEp[a] := EpNone; landed[a] := 0;
end;

procedure Returned(a: Agent);   -- a synchronous call (ASYNC = false) returns at once
begin
  if !ASYNC then DeliverReply(a); end;
  Compress();
end;

procedure ClearClient(a: Agent);
begin
  ClearEntry(cache[a]); ClearEntry(pf[a]);
  seen[a] := 0;
end;

function idle(a: Agent): boolean;
begin
  return !crashed[a] & reply[a].kind = RNone;
end;

ruleset a: Agent do

  rule "read"            -- Agent.read: a valid entry, else the prefetched view, else the store
    idle(a)
  ==>
  begin
    if cache[a].present & cache[a].valid then
      Tell(a, cache[a].ver);
      seen[a] := cache[a].ver;
    elsif pf[a].present & invAfter[a] <= pf[a].seq then
      cache[a] := pf[a]; cache[a].valid := true;
      ClearEntry(pf[a]);
      Tell(a, cache[a].ver);
      seen[a] := cache[a].ver;
    else
      StoreRead(a);
      SetReply(a, RView);
      Returned(a);
    end;
  end;

  rule "acquire"
    idle(a)
  ==>
  begin
    if !isOwner[a] then
      InvalidateOthers(a);
      for b: Agent do
        if !M_ACQUIRE_KEEPS_OWNER then isOwner[b] := false; end;
        sharer[b] := false;
      end;
      isOwner[a] := true;
      NoteOwner(a);
    end;
    SetReply(a, RView);
    Returned(a);
  end;

  rule "write"           -- Agent.write: base (version, epoch) from the cache entry
    idle(a)
  ==>
  begin
    rqKind[a] := 1;
    if cache[a].present then rqBase[a] := cache[a].ver; else rqBase[a] := 0; end;
    rqEp[a] := reqEpoch(a);
    SendCommit(a);
    Returned(a);
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
    SendCommit(a);
    Returned(a);
  end;

  rule "commit_cas"      -- Agent.write_cas: one attempt, from a valid entry
    ALL_ACTIONS & idle(a) & cache[a].present & cache[a].valid
  ==>
  begin
    seen[a] := cache[a].ver;        -- fn(old) is computed from the entry
    Tell(a, cache[a].ver);
    rqKind[a] := 3; rqBase[a] := cache[a].ver; rqEp[a] := reqEpoch(a);
    SendCommit(a);
    Returned(a);
  end;

  rule "release"
    ALL_ACTIONS & idle(a) & isOwner[a]
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
    Compress();
  end;

  rule "heartbeat"
    !crashed[a]
  ==>
  begin
    if live[a] = Absent then cnt[a] := 0; end;
    live[a] := Live;
  end;

  rule "crash"           -- the process dies: it never acts or heartbeats again
    ALL_ACTIONS & !crashed[a]
  ==>
  begin
    crashed[a] := true;
    ClearClient(a); ClearReply(a);
    rqKind[a] := 0; rqBase[a] := 0; rqEp[a] := EpNone;
    landed[a] := 0; maxTold[a] := 0; invVer[a] := 0; invAfter[a] := -1; lostSeq[a] := -1;
    for s: Seq do inbox[a][s].kind := ENone; inbox[a][s].ver := 0; end;
    Compress();
  end;

  rule "clock_jump"      -- time passes beyond the agent's TTL (or its host's clock lags)
    live[a] = Live
  ==>
  begin
    live[a] := Expired;
  end;

  rule "lose_entry"      -- damage: the engine loses the index entry; the record still counts it
    DAMAGE & idx[a] & !lost[a]
  ==>
  begin
    idx[a] := false; lost[a] := true;
  end;

  rule "sweep_look"      -- Coordinator.sweep reads the agent record and lists its index entries
    SWEEP_LOOK & (forall b: Agent do !swLooked[b] end)     -- it walks the agents one by one
    & (live[a] = Expired | (M_SWEEP_IGNORES_TTL & live[a] = Live))
  ==>
  begin
    swLooked[a] := true; swLock[a] := idx[a]; swSeen[a] := cnt[a];
    swScan[a] := cnt[a] > 0 & !idx[a] & !M_SWEEP_NO_SCAN;
  end;

  rule "sweep"           -- ... then runs liveness.sweep_agent over the record and what it locked
    swLooked[a] | (!SWEEP_LOOK & (live[a] = Expired | (M_SWEEP_IGNORES_TTL & live[a] = Live)))
  ==>
  begin
    if !SWEEP_LOOK then                             -- read, listed and locked in one step
      swLock[a] := idx[a]; swSeen[a] := cnt[a];
      swScan[a] := cnt[a] > 0 & !idx[a] & !M_SWEEP_NO_SCAN;
    end;
    if live[a] = Expired | (M_SWEEP_IGNORES_TTL & live[a] = Live) then
      if swScan[a] then                             -- sweep._sweep_scanning: every grant found;
        Reclaim(a);                                 -- what the record counted at the look is settled
        cnt[a] := (cnt[a] > swSeen[a]) ? cnt[a] - swSeen[a] : 0;
      elsif idx[a] & swLock[a] then
        Reclaim(a);
        idx[a] := false;                            -- the entry it locked is removed
        cnt[a] := (cnt[a] > 0) ? cnt[a] - 1 : 0;
      end;
      if cnt[a] > 0 & !M_SWEEP_DROPS_RECORD then
        live[a] := Expired;                         -- kept, counting what it did not find
      else
        live[a] := Absent; cnt[a] := 0;
      end;
    end;
    swLooked[a] := false; swLock[a] := false; swScan[a] := false; swSeen[a] := 0;
    Compress();
  end;

  rule "deliver_reply"
    ASYNC & !crashed[a] & reply[a].kind != RNone
  ==>
  begin
    DeliverReply(a);
    Compress();
  end;

  rule "lost_reply"      -- the reply never arrives; a commit call is retried with its commit id
    ASYNC & LOST_REPLIES & !crashed[a] & reply[a].kind != RNone
  ==>
  begin
    ClearReply(a);
    SendCommit(a);
    Compress();
  end;

  rule "deliver"         -- (BUS = false) an invalidation reaches a: never forced, any time
    !BUS & !crashed[a] & cache[a].present & cache[a].valid & (cache[a].ver != ver | !cache[a].fresh)
  ==>
  begin
    cache[a].valid := false;
  end;

  ruleset s: Seq do
    rule "deliver"       -- (BUS) Agent._on_event for an invalidate or reclaim event
      BUS & inbox[a][s].kind != ENone
    ==>
    var k: EvKind;
    begin
      k := inbox[a][s].kind;
      if CHECK_CC & inbox[a][s].ver > invVer[a] then invVer[a] := inbox[a][s].ver; end;
      inbox[a][s].kind := ENone; inbox[a][s].ver := 0;
      if invAfter[a] < s then invAfter[a] := s; end;
      if cache[a].present & cache[a].seq < s then
        cache[a].valid := false;
        if EAGER & k = EInval then          -- refetch_on_invalidate: coordinator.read now
          StoreRead(a);
          pf[a].present := true; pf[a].ver := ver; pf[a].fresh := true; pf[a].seq := sseq;
          pf[a].valid := true;
          if M_EAGER_INSTALLS then          -- before the fix: the refetch replaced the entry
            cache[a] := pf[a]; cache[a].valid := invAfter[a] <= sseq;
            ClearEntry(pf[a]);
          end;
        end;
      end;
      Compress();
    end;

    rule "drop"
      BUS & inbox[a][s].kind != ENone
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
    live[a] := Absent; idx[a] := false; cnt[a] := 0; lost[a] := false; crashed[a] := false;
    swLooked[a] := false; swLock[a] := false; swScan[a] := false; swSeen[a] := 0;
    ClearClient(a); ClearReply(a);
    invAfter[a] := -1;
    rqKind[a] := 0; rqBase[a] := 0; rqEp[a] := EpNone;
    for s: Seq do inbox[a][s].kind := ENone; inbox[a][s].ver := 0; end;
    maxTold[a] := 0; invVer[a] := 0; lostSeq[a] := -1;
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

invariant "DeadGrantReclaimable"  -- every grant's holder has a liveness record that lists the
  CHECK_TRACKED -> forall a: Agent do  -- grant in its index, or counts an entry it cannot find
    isOwner[a] -> (live[a] != Absent & (idx[a] | cnt[a] > 0))
  end;

invariant "CacheCoherence"      -- a valid copy is never older than an event its agent got
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
