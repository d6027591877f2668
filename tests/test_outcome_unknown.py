"""A commit whose reply is lost has an unknown outcome, and the library says so.

On PRIVATE Redis and PostgreSQL servers behind a real TCP proxy (``commit_proxy.py``) that drops
the reply to the Redis commit script (``EVALSHA``) or ``COMMIT`` after the commit landed, or drops
the commit itself, and with a real SIGKILL of redis-server (AOF, ``appendfsync always``) in the
middle of a commit:

* the engine raises ``OutcomeUnknown`` (code ``outcome_unknown``, the commit id, no "nothing was
  applied"); the agent API's own retry resolves it by commit id: every operation (write, commit,
  commit_cas, write_cas, transaction, delete) moves the counter exactly once and reports once;
* a retry refused by a record that may have forgotten the id is ``OutcomeUnknown``, not a
  conflict claiming nothing was applied; one from a record that would remember it is the conflict;
* retries that run out while the outcome is unknown end in ``OutcomeUnknown`` with the commit id.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from ccs import CoherenceAdapterCore, Coordinator, StaleView
from ccs.protocol.errors import BackendUnavailable, OutcomeUnknown
from commit_proxy import REDIS_COMMIT, CommitProxy
from conformance.conftest import with_query
from test_distributed_faults import PrivatePostgres, PrivateRedis

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["redis", "postgres"])
def server(request, tmp_path_factory):
    srv = PrivateRedis(tmp_path_factory.mktemp("redis")) if request.param == "redis" else PrivatePostgres()
    srv.start()
    yield srv
    srv.stop()


class Rig:
    """One fresh store on the private server: a direct coordinator (the truth) and an agent core
    whose every connection goes through the proxy."""

    def __init__(self, server, retries: int = 3) -> None:
        self.server = server
        if not server.ready():  # a failed test before this one left it down
            server.start()
        name = "s" + uuid.uuid4().hex[:10]
        redis = isinstance(server, PrivateRedis)
        url = with_query(server.url, **({"prefix": name} if redis else {"schema": name}))
        self.proxy = CommitProxy(server.port, marker=b'"id":"doc"', trigger=REDIS_COMMIT if redis else b"")
        self.direct = Coordinator(url, bus="memory://")
        self.proxied = url.replace(f":{server.port}/", f":{self.proxy.port}/")
        self.core = CoherenceAdapterCore(engine=self.proxied, bus="memory://", unavailable_retries=retries)
        self.agent = self.core.agent("a")

    def peer_commits(self, n: int) -> None:
        for _ in range(n):
            rec = self.direct.artifact("doc")
            self.direct.commit_cas("peer", "doc", rec.version, None, (b"100", "json"),
                                   commit_id=uuid.uuid4().hex)

    def check_once(self, version: int) -> None:
        """``version`` landed, under one commit id that the record lists once."""
        rec = self.direct.artifact("doc")
        assert rec.version == version
        ids = [cid for cid, _, _ in rec.commits]
        assert len(ids) == len(set(ids)) and [v for _, v, _ in rec.commits].count(version) == 1

    def close(self) -> None:
        self.core.close()
        self.direct.close()
        self.proxy.close()


@pytest.fixture
def rig(server):
    r = Rig(server)
    yield r
    r.close()


def _cas(agent, seen) -> int:
    return agent.commit_cas("doc", seen.version, seen.value + 1)


def _txn(agent) -> int:
    with agent.transaction() as t:
        t.write("doc", t.read("doc") + 1)
        t.write("side", "x")
    return t.result.versions["doc"].version


OPS = {
    "write": lambda a: a.write("doc", a.read("doc") + 1),
    "commit": lambda a: a.commit("doc", a.acquire("doc") + 1),
    "commit_cas": lambda a: _cas(a, a.read_with_version("doc")),
    "write_cas": lambda a: a.write_cas("doc", lambda n: n + 1),
    "transaction": _txn,
}


@pytest.mark.parametrize("mode", ["reply", "request"])
def test_every_commit_form_lands_exactly_once_when_its_reply_or_request_is_lost(rig, mode):
    agent = rig.agent
    agent.write("doc", 0)
    for n, (name, op) in enumerate(OPS.items(), start=1):
        rig.proxy.arm(mode)
        assert op(agent) == n + 1, name  # reported once, at the version it produced
        assert rig.proxy.cuts == n, f"{name}: the fault did not happen"
        rig.check_once(n + 1)
        assert rig.direct.content_at("doc") == str(n).encode()  # moved by exactly one
        assert agent.read("doc") == n
    rig.proxy.arm(mode)
    assert agent.delete("doc") == len(OPS) + 2
    rig.check_once(len(OPS) + 2)
    assert rig.direct.artifact("doc").content.deleted and rig.proxy.cuts == len(OPS) + 1


def test_engine_reports_an_unknown_outcome_with_its_commit_id(rig):
    coord = Coordinator(rig.proxied, bus="memory://")
    try:
        assert coord.write("a", "doc", 0, None, (b"1", "json")).version == 1
        rig.proxy.arm("reply")
        with pytest.raises(OutcomeUnknown) as err:
            coord.write("a", "doc", 1, None, (b"2", "json"), commit_id="cid-42")
        e = err.value
        assert isinstance(e, BackendUnavailable) and e.code == "outcome_unknown" and not e.retryable
        assert e.details["commit_id"] == "cid-42" and e.artifact == "doc" and "outcome unknown" in e.message
        assert "nothing was applied" not in e.recover and "cid-42" in e.recover
        assert rig.direct.artifact("doc").committed("cid-42") == (2, 0)  # it did land
        again = coord.write("a", "doc", 1, None, (b"2", "json"), commit_id="cid-42")
        assert (again.version, again.duplicate) == (2, True)
        rig.check_once(2)
    finally:
        coord.close()


def test_retry_refused_after_the_id_may_be_forgotten_is_outcome_unknown(rig):
    """Ours landed, then 40 peer commits pushed its id out of the record's memory: the retry's
    StaleView cannot prove anything, so the caller hears OutcomeUnknown, not "not applied"."""
    agent = rig.agent
    agent.write("doc", 1)
    rig.proxy.arm("reply", on_cut=lambda: rig.peer_commits(40))
    with pytest.raises(OutcomeUnknown) as err:
        agent.write("doc", agent.read("doc") + 1)
    assert err.value.details["last_error"]["code"] == "stale_view"
    assert err.value.details["commit_id"] and "nothing was applied" not in err.value.recover
    assert rig.direct.artifact("doc").version == 2 + 40  # ours did land
    assert agent.read("doc") == 100  # the agent no longer trusts its old copy


def test_retry_refused_by_a_record_that_remembers_is_a_real_conflict(rig):
    """Ours never arrived and one peer committed: the record would still list our id had it
    landed, so the conflict is certain and write_cas simply re-derives."""
    agent = rig.agent
    agent.write("doc", 1)
    rig.proxy.arm("request", on_cut=lambda: rig.peer_commits(1))
    with pytest.raises(StaleView) as err:
        agent.write("doc", agent.read("doc") + 1)
    assert err.value.details["id_forgotten"] is False and rig.direct.artifact("doc").version == 2
    agent.read("doc")  # registers as a sharer now, so the next cut hits the commit itself
    rig.proxy.arm("request", on_cut=lambda: rig.peer_commits(1))
    assert agent.write_cas("doc", lambda n: n + 1) == 4
    assert rig.direct.content_at("doc") == b"101"


def test_retries_running_out_while_the_outcome_is_unknown_end_in_outcome_unknown(server):
    """The server is killed right after it applied the commit and stays down through every
    retry: the error names the commit id, and after the restart that id is found landed."""
    if not isinstance(server, PrivateRedis):
        pytest.skip("the client's logic is the same; PostgreSQL's pool waits 10 s per attempt")
    rig = Rig(server, retries=1)
    try:
        rig.agent.write("doc", 1)
        rig.proxy.arm("reply", on_cut=server.crash)
        with pytest.raises(OutcomeUnknown) as err:
            rig.agent.write("doc", 2)
        cid = err.value.details["commit_id"]
        assert "nothing was applied" not in err.value.recover and err.value.artifact == "doc"
        server.start()
        assert rig.direct.artifact("doc").committed(cid) == (2, 0)
        assert rig.agent.read("doc") == 2
    finally:
        rig.close()


@pytest.mark.parametrize("mode", ["reply", "request"])
def test_redis_sigkill_mid_commit_then_restart_applies_exactly_once(server, mode):
    if not isinstance(server, PrivateRedis):
        pytest.skip("a Redis SIGKILL; PostgreSQL's lost COMMIT reply is covered above")
    rig = Rig(server, retries=8)
    restarted = threading.Thread(target=server.start)
    try:
        rig.agent.write("doc", 1)
        rig.proxy.arm(mode, on_cut=lambda: (server.crash(), restarted.start()))
        assert rig.agent.write_cas("doc", lambda n: n + 1) == 2
        restarted.join(60)
        assert rig.proxy.cuts == 1
        rig.check_once(2)
        assert rig.direct.content_at("doc") == b"2"
    finally:
        restarted.join(60)
        rig.close()
