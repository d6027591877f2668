-- txn.m: multi-artifact transactions (transitions.transaction_commit, client/transaction.py)
-- on two artifacts, beside single-artifact writes and crash recovery that moves epochs.
--
-- A transaction is prepared over several steps, as ccs.client.transaction.Transaction does:
--   txn_read   : Transaction.read -> Agent.snapshot: the cached entry when valid, else a fetch;
--                the first read of an artifact fixes the (version, epoch) the commit is checked at
--   txn_write  : Transaction.write -> _base: an artifact written but not read is checked at the
--                cached entry's (version, epoch), or (0, None) without an entry
--   txn_commit : transitions.transaction_commit: all writes land only if every read is current
-- Other agents meanwhile write, acquire, expire and get swept (which advances an epoch).
-- Invalidations may be delayed or lost, so a snapshot served from the cache may be any version
-- up to the current one: txn_read and txn_write pick any such (version, epoch), which covers
-- every strategy.  Epochs are kept as fresh/stale, as in ccs.m.

const
  N: 2;
  MAXV: 1;
  M_TXN_WRITES_ONLY: false;   -- mutant: only artifacts in the write set are validated
  M_TXN_NO_EPOCH: false;      -- mutant: reads are validated on version only

type
  Agent: scalarset(N);
  Art: 0..1;
  Ver: 0..MAXV;
  EpTag: enum { EpNone, EpFresh, EpStale };

  Item: record           -- the transaction's entry for one artifact
    inRead: boolean;     -- in Transaction.reads: (version, epoch) the commit is checked at
    rver: Ver;
    rep: EpTag;
    inWrite: boolean;
  end;

var
  ver: array[Art] of Ver;
  owner: array[Art] of array[Agent] of boolean;
  expired: array[Agent] of boolean;
  txn: array[Agent] of array[Art] of Item;
  readSkew: boolean;
  staleApply: boolean;

procedure Reclaim(x: Art);  -- the sweep advances x's epoch: every carried epoch becomes stale
begin
  for b: Agent do
    if txn[b][x].rep = EpFresh then txn[b][x].rep := EpStale; end;
  end;
end;

procedure ClearTxn(a: Agent);
begin
  for x: Art do
    txn[a][x].inRead := false; txn[a][x].rver := 0; txn[a][x].rep := EpNone;
    txn[a][x].inWrite := false;
  end;
end;

function current(x: Art; v: Ver; e: EpTag): boolean;  -- rec.version == v and rec.epoch == e
begin
  return v = ver[x] & (e != EpStale | M_TXN_NO_EPOCH);
end;

ruleset a: Agent; x: Art do

  rule "write"           -- a single-artifact write (its own checks are modelled in ccs.m)
    ver[x] < MAXV
  ==>
  begin
    ver[x] := ver[x] + 1;
    for b: Agent do owner[x][b] := false; end;
    owner[x][a] := true;
    expired[a] := false;
  end;

  rule "acquire"
    !owner[x][a]
  ==>
  begin
    for b: Agent do owner[x][b] := false; end;
    owner[x][a] := true;
    expired[a] := false;
  end;

  rule "sweep"           -- a expired (crash or clock_jump); the sweep reclaims its grant on x
    expired[a] & owner[x][a]
  ==>
  begin
    owner[x][a] := false;
    Reclaim(x);
  end;

  ruleset v: Ver; fr: boolean do
    rule "txn_read"      -- Transaction.read: the first read fixes (version, epoch)
      !txn[a][x].inRead & v <= ver[x]
    ==>
    begin
      txn[a][x].inRead := true;
      txn[a][x].rver := v;
      if fr & v = ver[x] then txn[a][x].rep := EpFresh; else txn[a][x].rep := EpStale; end;
    end;

    rule "txn_write"     -- Transaction.write -> _base: the cached entry, or (0, None) without one
      !txn[a][x].inWrite & v <= ver[x]
    ==>
    begin
      txn[a][x].inWrite := true;
      if !txn[a][x].inRead then
        txn[a][x].inRead := true;
        txn[a][x].rver := v;
        if !fr then txn[a][x].rep := EpStale;
        elsif v = 0 then txn[a][x].rep := EpNone;
        else txn[a][x].rep := EpFresh;
        end;
      end;
    end;
  end;
end;

ruleset a: Agent do
  rule "clock_jump"
    !expired[a]
  ==>
  begin
    expired[a] := true;
  end;

  rule "txn_commit"      -- transitions.transaction_commit
    exists x: Art do txn[a][x].inWrite end
  ==>
  var ok: boolean;
  begin
    ok := true;
    for x: Art do
      if txn[a][x].inRead & (txn[a][x].inWrite | !M_TXN_WRITES_ONLY) then
        if !current(x, txn[a][x].rver, txn[a][x].rep) then ok := false; end;
      end;
      if txn[a][x].inWrite & ver[x] = MAXV then ok := false; end;   -- exploration bound
    end;
    if ok then
      -- ghost checks: every artifact read by the transaction is still at the version read
      -- (a consistent snapshot, NoReadSkew), and no write carries a reclaimed epoch (NoStaleApply)
      for x: Art do
        if txn[a][x].inRead & txn[a][x].rver != ver[x] then readSkew := true; end;
        if txn[a][x].inWrite & txn[a][x].rep = EpStale then staleApply := true; end;
      end;
      for x: Art do
        if txn[a][x].inWrite then
          ver[x] := ver[x] + 1;
          if !owner[x][a] then for b: Agent do owner[x][b] := false; end; end;
        end;
      end;
    end;
    ClearTxn(a);
  end;
end;

startstate
begin
  for x: Art do
    ver[x] := 0;
    for b: Agent do owner[x][b] := false; end;
  end;
  for b: Agent do expired[b] := false; ClearTxn(b); end;
  readSkew := false; staleApply := false;
end;

invariant "NoReadSkew"        -- a committed transaction read one consistent, current snapshot
  !readSkew;

invariant "NoStaleApply"      -- no transaction carrying a reclaimed epoch lands
  !staleApply;
