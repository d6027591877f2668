-- refusal.m: what an agent does after a refusal, on one store with two agents.
--
-- MERGE (write(..., merge="auto")): an edit is a set of line ids the agent adds to the document
-- it read (its base). A plain write is a compare-and-set against the base version. A refused
-- write may merge: fetch the current version (theirs), merge three ways -- theirs plus the lines
-- yours added to the base -- and commit that as a compare-and-set against the version fetched,
-- which can itself be refused (then fetch and merge again). Overlapping edits raise
-- MergeConflict and write nothing, which loses nothing, so they are not modelled; edits only add
-- lines, so "never loses a committed edit" is: every line a commit wrote is still there.
--
-- EFFECT GATE (ccs.protocol.effects.record_intent, ccs.client.effects): an agent reads two
-- inputs, then decides an effect: one transaction checks that every input is still at the
-- (version, epoch) read and records a pending intent with those versions; the effect runs after
-- (maybe twice: a crash before it is recorded done leaves it pending and a resume runs it again
-- with the same key, which the effect deduplicates). Inputs move meanwhile by writes (version)
-- and reclaims/handoffs (epoch).
--
-- HANDOFF (ccs.protocol.effects.handoff): three agents on one artifact take views (read,
-- acquire), write (lands iff the view's version and epoch are current), commit under the grant,
-- and hand the grant off: one step that needs the giver to hold the grant on the version it saw,
-- gives it to the receiver at a new epoch, and hands the receiver that view. Every other view is
-- then one taken before the handoff, and no write derived from one may land.

const
  N: 2;
  LINES: 3;
  MAXV: 3;
  MERGE: true;                 -- the merge rules (run on their own: the two parts are independent,
  EFFECT: true;                -- and together their state spaces would multiply)
  M_MERGE_BLIND: false;        -- mutant: the merged write is not a CAS (lands on any version)
  M_MERGE_DROPS_THEIRS: false; -- mutant: the merge keeps only the base and your lines
  M_EFFECT_SPLIT: false;       -- mutant: inputs checked in one step, intent recorded in another
  M_EFFECT_NO_EPOCH: false;    -- mutant: the check compares versions only
  HANDOFF: true;
  HN: 3;                       -- agents of the handoff part (giver, receiver, a third)
  MAXE: 2;
  M_HANDOFF_NO_EPOCH: false;   -- mutant: the handoff moves the grant without advancing the epoch

type
  Agent: scalarset(N);
  Line: 0..LINES-1;
  Ver: 0..MAXV;
  Art: 0..1;
  Ep: 0..1;
  Doc: array[Line] of boolean;
  Phase: enum { Idle, Edited, Merged };
  Gate: enum { GIdle, GRead, GChecked, GPending, GDone };
  HAgent: scalarset(HN);
  HEp: 0..MAXE;

var
  -- the document being merged
  ver: Ver;
  doc: Doc;
  committed: Doc;               -- ghost: every line some commit wrote
  phase: array[Agent] of Phase;
  base: array[Agent] of Doc;    -- the version read (base of the three-way merge)
  bver: array[Agent] of Ver;
  yours: array[Agent] of Doc;
  merged: array[Agent] of Doc;
  mver: array[Agent] of Ver;    -- the version the merge was computed against (its CAS)
  -- the effect gate's inputs
  iver: array[Art] of Ver;
  iep: array[Art] of Ep;
  gate: array[Agent] of Gate;
  rver: array[Agent] of array[Art] of Ver;
  rep: array[Agent] of array[Art] of Ep;
  movedAtDecision: boolean;     -- ghost: an intent was recorded while an input had moved
  -- the handoff part
  hver: Ver;
  hep: HEp;
  howner: array[HAgent] of boolean;
  hviewv: array[HAgent] of Ver;
  hviewe: array[HAgent] of HEp;
  preHandoff: array[HAgent] of boolean;  -- ghost: the agent's view was taken before a handoff
  staleLanded: boolean;                  -- ghost: a write derived from such a view landed

procedure Commit(d: Doc);
begin
  ver := ver + 1;
  doc := d;
  for l: Line do if d[l] then committed[l] := true; end; end;
end;

function current(a: Agent): boolean;  -- every input still at the (version, epoch) a read
begin
  for x: Art do
    if rver[a][x] != iver[x] | (rep[a][x] != iep[x] & !M_EFFECT_NO_EPOCH) then return false; end;
  end;
  return true;
end;

ruleset a: Agent do

  -- ---- merge ----------------------------------------------------------------------------------

  rule "read"
    MERGE & phase[a] = Idle
  ==>
  begin
    base[a] := doc; bver[a] := ver;
  end;

  ruleset l: Line do
    rule "edit"                  -- yours = base + one line the base lacks
      MERGE & phase[a] = Idle & !base[a][l]
    ==>
    begin
      yours[a] := base[a]; yours[a][l] := true; phase[a] := Edited;
    end;
  end;

  rule "write"                   -- the plain write: CAS against the base version
    MERGE & phase[a] = Edited & ver < MAXV & ver = bver[a]
  ==>
  begin
    Commit(yours[a]); phase[a] := Idle;
  end;

  rule "merge"                   -- the write was refused: fetch theirs, merge three ways
    MERGE & phase[a] = Edited & ver != bver[a]
  ==>
  begin
    for l: Line do
      merged[a][l] := (doc[l] & !M_MERGE_DROPS_THEIRS) | base[a][l] | (yours[a][l] & !base[a][l]);
    end;
    mver[a] := ver; phase[a] := Merged;
  end;

  rule "merge_commit"            -- the merged value, as a CAS against the version fetched
    MERGE & phase[a] = Merged & ver < MAXV & (ver = mver[a] | M_MERGE_BLIND)
  ==>
  begin
    Commit(merged[a]); phase[a] := Idle;
  end;

  rule "merge_refused"           -- someone committed since the fetch: merge again from there
    MERGE & phase[a] = Merged & ver != mver[a]
  ==>
  begin
    phase[a] := Edited;
  end;

  -- ---- effect gate ----------------------------------------------------------------------------

  rule "effect_read"             -- the agent reads its inputs (what the effect depends on)
    EFFECT & (gate[a] = GIdle | gate[a] = GDone)
  ==>
  begin
    for x: Art do rver[a][x] := iver[x]; rep[a][x] := iep[x]; end;
    gate[a] := GRead;
  end;

  rule "effect_decide"           -- record_intent: check and record in one transaction
    EFFECT & gate[a] = GRead & !M_EFFECT_SPLIT
  ==>
  begin
    if current(a) then
      if !(forall x: Art do rver[a][x] = iver[x] & rep[a][x] = iep[x] end) then
        movedAtDecision := true;
      end;
      gate[a] := GPending;
    else
      gate[a] := GIdle;          -- refused (StaleView / StaleEpoch): nothing recorded or run
    end;
  end;

  rule "effect_check"            -- mutant: the check on its own
    EFFECT & gate[a] = GRead & M_EFFECT_SPLIT
  ==>
  begin
    if current(a) then gate[a] := GChecked; else gate[a] := GIdle; end;
  end;

  rule "effect_record"           -- mutant: the intent recorded later, without a check
    EFFECT & gate[a] = GChecked
  ==>
  begin
    if !(forall x: Art do rver[a][x] = iver[x] & rep[a][x] = iep[x] end) then
      movedAtDecision := true;
    end;
    gate[a] := GPending;
  end;

  rule "effect_run_done"         -- the effect runs (with the intent's key) and is recorded done;
    EFFECT & gate[a] = GPending           -- a crash in between leaves it pending: this rule fires again
  ==>
  begin
    gate[a] := GDone;
  end;
end;

ruleset x: Art do
  rule "input_write"             -- a peer commits to an input
    EFFECT & iver[x] < MAXV
  ==>
  begin
    iver[x] := iver[x] + 1;
  end;

  rule "input_reclaim"           -- a reclaim or handoff advances an input's epoch
    EFFECT & iep[x] = 0
  ==>
  begin
    iep[x] := 1;
  end;
end;

ruleset a: HAgent do
  rule "h_read"                  -- a view; a peer's read downgrades the owner
    HANDOFF
  ==>
  begin
    if !howner[a] then for b: HAgent do howner[b] := false; end; end;
    hviewv[a] := hver; hviewe[a] := hep; preHandoff[a] := false;
  end;

  rule "h_acquire"
    HANDOFF & !howner[a]
  ==>
  begin
    for b: HAgent do howner[b] := false; end;
    howner[a] := true;
    hviewv[a] := hver; hviewe[a] := hep; preHandoff[a] := false;
  end;

  rule "h_write"                 -- write / commit_cas: lands iff version and epoch are current
    HANDOFF & hver < MAXV & hviewv[a] = hver & hviewe[a] = hep
  ==>
  begin
    if preHandoff[a] then staleLanded := true; end;
    hver := hver + 1;
    for b: HAgent do howner[b] := false; end;
    howner[a] := true;
    hviewv[a] := hver; preHandoff[a] := false;
  end;

  ruleset b: HAgent do
    rule "h_handoff"             -- transitions' _check_grant + _check_base, then the new grant
      HANDOFF & a != b & howner[a] & hviewv[a] = hver & hviewe[a] = hep & hep < MAXE
    ==>
    begin
      if !M_HANDOFF_NO_EPOCH then hep := hep + 1; end;
      howner[a] := false; howner[b] := true;
      for c: HAgent do if c != b then preHandoff[c] := true; end; end;
      hviewv[b] := hver; hviewe[b] := hep; preHandoff[b] := false;
    end;
  end;
end;

startstate
begin
  ver := 0;
  for l: Line do doc[l] := false; committed[l] := false; end;
  for a: Agent do
    phase[a] := Idle; bver[a] := 0; mver[a] := 0;
    for l: Line do base[a][l] := false; yours[a][l] := false; merged[a][l] := false; end;
    gate[a] := GIdle;
    for x: Art do rver[a][x] := 0; rep[a][x] := 0; end;
  end;
  for x: Art do iver[x] := 0; iep[x] := 0; end;
  movedAtDecision := false;
  hver := 0; hep := 0; staleLanded := false;
  for a: HAgent do
    howner[a] := false; hviewv[a] := 0; hviewe[a] := 0; preHandoff[a] := false;
  end;
end;

invariant "MergeKeepsEdits"      -- a merged (or plain) write never loses a committed edit
  forall l: Line do committed[l] -> doc[l] end;

invariant "EffectOnCurrentInputs" -- an effect is never decided (so never run) on a moved input
  !movedAtDecision;

invariant "HandoffFencesEarlierViews" -- no write derived from a view taken before a handoff lands
  !staleLanded;
