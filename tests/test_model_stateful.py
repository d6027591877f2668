"""Model-based test: a real Coordinator (memory://) against a small reference model of the protocol.

Hypothesis drives several agents over a few artifacts through every operation, crashes, sweeps,
clock jumps and lost replies. The model predicts each outcome (success, or which typed refusal)
and the records that follow; after every step the invariants below are checked on the real store.

Rule names are shared with the Rumur model so that traces can be replayed there: read, acquire,
write, commit, commit_cas, release, evict, heartbeat, crash, sweep, clock_jump, txn_commit,
lost_reply.
"""

from dataclasses import dataclass, field

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ccs import Coordinator, CrashRecoveryConfig, Limits, ManualClock
from ccs.backends import agent_key, owns_prefix
from ccs.protocol.errors import (
    CoherenceError,
    GrantReclaimed,
    NotOwner,
    StaleEpoch,
    StaleView,
    TransactionConflict,
    VersionConflict,
)
from ccs.protocol.records import Mesi

AGENTS = ("a1", "a2", "a3")
ARTS = ("x", "y")
TTL = 5.0
COMMIT_ID_WINDOW = 30  # the store remembers the last 32 commit ids per artifact

agents = st.sampled_from(AGENTS)
arts = st.sampled_from(ARTS)


@dataclass
class Art:
    """What the reference model believes about one artifact."""

    version: int = 0
    epoch: int = 0
    owner: str | None = None
    dirty: bool = False
    sharers: dict[str, int] = field(default_factory=dict)
    chain: list[bytes | None] = field(default_factory=lambda: [None])  # content per version
    last_reclaim: tuple[str, int] | None = None  # (agent, fenced epoch)

    def view_of(self, agent: str) -> Mesi:
        if self.owner == agent:
            return Mesi.MODIFIED if self.dirty else Mesi.EXCLUSIVE
        return Mesi.SHARED if self.sharers.get(agent) == self.version else Mesi.INVALID

    def fence(self, agent: str, epoch: int) -> type[CoherenceError] | None:
        if epoch == self.epoch:
            return None
        if self.last_reclaim and self.last_reclaim[0] == agent and epoch <= self.last_reclaim[1]:
            return GrantReclaimed
        return StaleEpoch


class CoherenceMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.coord = Coordinator(
            "memory://", clock=self.clock, limits=Limits(retain_versions=1000),
            crash_recovery=CrashRecoveryConfig(heartbeat_ttl=TTL, sweep_interval=1e9))
        self.arts = {aid: Art() for aid in ARTS}
        self.live: dict[str, tuple[float, frozenset[str]]] = {}  # agent -> (expires_at, owned)
        self.views: dict[tuple[str, str], tuple[int, int]] = {}  # what each agent last saw
        self.crashed: set[str] = set()
        self.pending: list[tuple] = []  # commits applied whose reply was lost, awaiting retry
        self.seen: dict[tuple[str, int], bytes | None] = {}
        self.high = {aid: (0, 0) for aid in ARTS}
        self.applied: list[tuple[str, int, int | None, int]] = []  # (aid, version, asked, landed)
        self.n = 0

    # --- helpers -------------------------------------------------------------------------------

    def _data(self, agent: str, aid: str) -> bytes:
        self.n += 1
        return f"{agent}:{aid}:{self.n}".encode()

    def _beat(self, agent: str, owns: str | None = None) -> None:
        """Liveness: a heartbeat refreshes it; taking a grant lists the artifact and refreshes it
        unless already listed with more than half the ttl left (the coordinator skips that write)."""
        expires, owned = self.live.get(agent, (0.0, frozenset()))
        now = self.clock.now()
        if owns is not None and owns in owned and expires - now > TTL / 2:
            return
        self.live[agent] = (now + TTL, owned | ({owns} if owns else set()))

    @staticmethod
    def _expect(expected, call):
        event(f"expected {'success' if expected is None else expected.__name__}")
        try:
            reply = call()
        except CoherenceError as exc:
            assert expected is not None, f"model expected success, got {exc!r}"
            assert type(exc) is expected, f"model expected {expected.__name__}, got {exc!r}"
            return None, exc
        assert expected is None, f"model expected {expected.__name__}, but it landed: {reply}"
        return reply, None

    def _land(self, agent: str, aid: str, data: bytes, take: bool, reply) -> None:
        art = self.arts[aid]
        assert not reply.duplicate and reply.version == art.version + 1
        art.version += 1
        art.chain.append(data)
        if take or art.owner == agent:
            art.owner, art.dirty, art.sharers = agent, True, {}
        else:
            art.owner, art.dirty, art.sharers = None, False, {agent: art.version}

    def _observe(self, agent: str, aid: str, view, data, known) -> None:
        art = self.arts[aid]
        assert (view.version, view.epoch) == (art.version, art.epoch)
        assert view.modified == (known != art.version)
        if view.modified:
            assert data == art.chain[art.version]
            assert self.seen.setdefault((aid, view.version), data) == data
        else:
            assert data is None  # a current copy moves no content
        self.views[agent, aid] = (view.version, view.epoch)

    def _plan_write(self, agent: str, aid: str):
        art = self.arts[aid]
        v, e = self.views.get((agent, aid), (0, None))
        expected = None
        fenced = None if e is None else art.fence(agent, e)
        if fenced is not None:
            # a moved version reads better as StaleView, except to the agent whose grant was reclaimed
            expected = StaleView if fenced is StaleEpoch and v != art.version else fenced
        elif v != art.version:
            expected = StaleView
        data = self._data(agent, aid)
        return expected, e, data, lambda cid: self.coord.write(agent, aid, v, e, (data, "str"), cid)

    def _plan_cas(self, agent: str, aid: str):
        art = self.arts[aid]
        v, e = self.views.get((agent, aid), (0, None))
        expected = None
        if v != art.version:
            expected = VersionConflict
        elif e is not None:
            expected = art.fence(agent, e)
        data = self._data(agent, aid)
        return expected, e, data, lambda cid: self.coord.commit_cas(agent, aid, v, e, (data, "str"), cid)

    def _attempt(self, agent: str, aid: str, plan, cid: str, *, take: bool):
        expected, request_epoch, data, call = plan
        reply, _ = self._expect(expected, lambda: call(cid))
        if reply is not None:
            self.applied.append((aid, reply.version, request_epoch, reply.epoch))
            self._land(agent, aid, data, take, reply)
            if take:
                self._beat(agent, aid)
        return reply

    # --- rules ---------------------------------------------------------------------------------

    @rule(agent=agents, aid=arts)
    def read(self, agent, aid):
        if agent in self.crashed:
            return
        known = self.views.get((agent, aid), (None,))[0]
        view, data = self.coord.read(agent, aid, known)
        art = self.arts[aid]
        if art.owner != agent and not (art.owner is None and art.sharers.get(agent) == art.version):
            if art.owner is not None:
                art.sharers[art.owner] = art.version
            art.owner, art.dirty = None, False
            art.sharers[agent] = art.version
        self._observe(agent, aid, view, data, known)

    @rule(agent=agents, aid=arts)
    def acquire(self, agent, aid):
        if agent in self.crashed:
            return
        known = self.views.get((agent, aid), (None,))[0]
        view, data = self.coord.acquire(agent, aid, known)
        art = self.arts[aid]
        if art.owner != agent:
            art.owner, art.dirty, art.sharers = agent, False, {}
            self._beat(agent, aid)
        assert view.state is Mesi.EXCLUSIVE or view.state is Mesi.MODIFIED
        self._observe(agent, aid, view, data, known)

    @rule(agent=agents, aid=arts)
    def write(self, agent, aid):
        if agent in self.crashed:
            return
        reply = self._attempt(agent, aid, self._plan_write(agent, aid), f"w{self.n}", take=True)
        if reply is not None:
            self.views[agent, aid] = (reply.version, reply.epoch)

    @rule(agent=agents, aid=arts)
    def commit(self, agent, aid):
        if agent in self.crashed:
            return
        art = self.arts[aid]
        v, e = self.views.get((agent, aid), (0, 0))
        expected = art.fence(agent, e) or (NotOwner if art.owner != agent else None)
        if expected is None and v != art.version:
            expected = StaleView
        data = self._data(agent, aid)
        plan = (expected, e, data, lambda cid: self.coord.commit(agent, aid, e, v, (data, "str"), cid))
        reply = self._attempt(agent, aid, plan, f"c{self.n}", take=False)
        if reply is not None:
            assert self.arts[aid].owner == agent
            self.views[agent, aid] = (reply.version, reply.epoch)

    @rule(agent=agents, aid=arts)
    def commit_cas(self, agent, aid):
        if agent in self.crashed:
            return
        reply = self._attempt(agent, aid, self._plan_cas(agent, aid), f"s{self.n}", take=False)
        if reply is not None:
            self.views[agent, aid] = (reply.version, reply.epoch)

    @rule(agent=agents, aid=arts)
    def release(self, agent, aid):
        if agent in self.crashed:
            return
        self.coord.release(agent, aid)
        art = self.arts[aid]
        if art.owner == agent:
            art.owner, art.dirty = None, False
            art.sharers[agent] = art.version

    @rule(agent=agents, aid=arts)
    def evict(self, agent, aid):
        if agent in self.crashed:
            return
        self.coord.evict(agent, aid)
        art = self.arts[aid]
        if art.owner == agent:
            art.owner, art.dirty = None, False
        art.sharers.pop(agent, None)
        self.views.pop((agent, aid), None)

    @rule(agent=agents)
    def heartbeat(self, agent):
        if agent in self.crashed:
            return
        rec = self.coord.heartbeat(agent)
        self._beat(agent)
        assert rec.expires_at == self.live[agent][0]

    @precondition(lambda self: len(self.crashed) < len(AGENTS) - 1)
    @rule(agent=agents)
    def crash(self, agent):
        self.crashed.add(agent)

    @rule()
    def sweep(self):
        now = self.clock.now()
        expected = set()
        for agent, (expires, owned) in sorted(self.live.items()):
            if not now > expires:
                continue
            for aid in sorted(owned):
                art = self.arts[aid]
                if art.owner == agent:  # grant reclaimed; the copy stays registered (S)
                    expected.add((agent, aid, art.epoch, art.epoch + 1))
                    art.last_reclaim = (agent, art.epoch)
                    art.epoch += 1
                    art.owner, art.dirty = None, False
                    art.sharers[agent] = art.version
            del self.live[agent]
        notes = self.coord.sweep()
        event(f"sweep reclaimed {len(notes)}")
        assert {(n.agent, n.artifact, n.fenced_epoch, n.new_epoch) for n in notes} == expected
        assert all(n.reason.startswith(f"no heartbeat from {n.agent}") for n in notes)

    @rule(seconds=st.sampled_from([1.0, TTL / 2 + 0.5, TTL + 1.0]))
    def clock_jump(self, seconds):
        self.clock.advance(seconds)

    @rule(agent=agents, read_set=st.sets(arts), write_set=st.sets(arts, min_size=1))
    def txn_commit(self, agent, read_set, write_set):
        if agent in self.crashed:
            return
        reads = {aid: self.views.get((agent, aid), (0, None)) for aid in sorted(read_set | write_set)}
        conflicts = [aid for aid, (v, e) in reads.items()
                     if v != self.arts[aid].version or (e is not None and e != self.arts[aid].epoch)]
        writes = {aid: self._data(agent, aid) for aid in sorted(write_set)}
        reply, err = self._expect(TransactionConflict if conflicts else None, lambda: (
            self.coord.transaction_commit(agent, reads, {a: (d, "str") for a, d in writes.items()},
                                          f"t{self.n}")))
        if err is not None:
            assert [c["artifact"] for c in err.details["conflicts"]] == conflicts
            return
        for aid, (_, e) in reads.items():
            self.applied.append((aid, self.arts[aid].version, e, self.arts[aid].epoch))
        for aid, data in writes.items():
            committed = reply.versions[aid]
            self._land(agent, aid, data, False, committed)
            self.views[agent, aid] = (committed.version, committed.epoch)

    @rule(agent=agents, aid=arts, kind=st.sampled_from(["write", "commit_cas"]), later=st.booleans())
    def lost_reply(self, agent, aid, kind, later):
        if self.pending and later:
            self._retry(*self.pending.pop(0))
            return
        if agent in self.crashed:
            return
        plan = self._plan_write(agent, aid) if kind == "write" else self._plan_cas(agent, aid)
        cid = f"lost{self.n}"
        reply = self._attempt(agent, aid, plan, cid, take=kind == "write")
        if reply is None:
            return  # refused: nothing was applied, nothing to retry
        lost = (agent, aid, plan[3], cid, reply.version)
        if later:
            self.pending.append(lost)
        else:
            self._retry(*lost)

    def _retry(self, agent, aid, call, cid, version):
        if self.arts[aid].version - version >= COMMIT_ID_WINDOW:
            return
        before = self.arts[aid].version
        reply = call(cid)
        assert reply.duplicate and reply.version == version
        event(f"duplicate retried {'after peer commits' if before != version else 'with no commit since'}")
        assert self.coord.artifact(aid).version == before  # not applied twice
        self.views[agent, aid] = (reply.version, reply.epoch)

    # --- invariants ----------------------------------------------------------------------------

    @invariant()
    def records_match_the_model(self):
        for aid, art in self.arts.items():
            rec = self.coord.artifact(aid)
            if rec is None:
                assert art.version == 0 and art.owner is None and not art.sharers
                continue
            assert (rec.version, rec.epoch) == (art.version, art.epoch)
            assert (None if rec.owner is None else rec.owner.agent) == art.owner
            assert {a: rec.view_of(a) for a in AGENTS} == {a: art.view_of(a) for a in AGENTS}
        for agent in AGENTS:
            rec = self.coord.backend.get(agent_key(agent))
            listed = frozenset(k[len(owns_prefix(agent)):]
                               for k in self.coord.backend.keys(owns_prefix(agent)))
            model = self.live.get(agent)
            assert (None if rec is None else (rec.expires_at, listed)) == model
            assert (rec.indexed, rec.owned) == (len(listed), frozenset()) if rec else not listed

    @invariant()
    def single_writer(self):
        for aid in ARTS:
            rec = self.coord.artifact(aid)
            if rec is None:
                continue
            owners = [a for a in AGENTS if rec.view_of(a) in (Mesi.MODIFIED, Mesi.EXCLUSIVE)]
            assert len(owners) <= 1
            if rec.owner is not None:
                assert owners == [rec.owner.agent]
                assert all(rec.view_of(a) is not Mesi.SHARED for a in AGENTS if a != rec.owner.agent)

    @invariant()
    def monotonic_version(self):
        for aid in ARTS:
            rec = self.coord.artifact(aid)
            now = (0, 0) if rec is None else (rec.version, rec.epoch)
            assert now[0] >= self.high[aid][0] and now[1] >= self.high[aid][1]
            self.high[aid] = now

    @invariant()
    def no_stale_apply(self):
        # every commit that landed was asked under the epoch it landed at: none made before a
        # reclaim advanced the epoch ever lands (None: a create or a CAS without a read view)
        assert all(asked is None or asked == landed for _, _, asked, landed in self.applied)

    @invariant()
    def no_lost_update_and_agreed_content(self):
        for aid, art in self.arts.items():
            for version in range(1, art.version + 1):
                assert self.coord.content_at(aid, version) == art.chain[version], (aid, version)

    def teardown(self):
        self.coord.close()


CoherenceMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
TestCoherenceModel = CoherenceMachine.TestCase
