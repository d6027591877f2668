"""``ccs serve`` end to end: a real server process on loopback, real HTTP (the stdlib client and
raw http.client), on memory, SQLite, Redis and PostgreSQL. Typed errors come back as the
library's classes with the documented HTTP statuses, and a remote cache is invalidated when
another agent commits."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import sys
import threading
import uuid

import pytest

from ccs import CoherenceAdapterCore
from ccs.client.http import DELETE, HttpClient
from ccs.protocol.errors import (
    BackendUnavailable,
    InvalidIdentifier,
    InvalidRequest,
    NotOwner,
    OutcomeUnknown,
    StaleView,
    TransactionConflict,
    UnknownEndpoint,
    VersionConflict,
)
from conformance.conftest import drop_store, with_query
from conformance.test_bus import wait_for
from conftest import service_url
from http_server import env, serve


@pytest.fixture(scope="module", params=["memory", "sqlite", "redis", "postgres"])
def server(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"serve-{request.param}")
    tag = uuid.uuid4().hex[:10]
    url = {"memory": lambda: "memory://", "sqlite": lambda: f"sqlite:///{tmp}/state.db",
           "redis": lambda: with_query(service_url("CCS_TEST_REDIS_URL"), prefix=f"http{tag}"),
           "postgres": lambda: with_query(service_url("CCS_TEST_POSTGRES_DSN"), schema=f"http_{tag}"),
           }[request.param]()
    try:
        with serve(url, tmp) as srv:
            srv.engine = url
            yield srv
    finally:
        if request.param in ("redis", "postgres"):
            drop_store(url)


def raw(srv, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        hdrs = {"Authorization": f"Bearer {srv.token}", **(headers or {})}
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def test_read_write_and_a_stale_write_refused_with_409(server):
    a, b = (HttpClient(server.url, token=server.token, agent=n) for n in ("planner", "writer"))
    art = f"plan-{uuid.uuid4().hex[:6]}.md"
    assert a.read(art).exists is False
    assert a.write(art, "v1 by planner") == 1
    assert b.read(art).value == "v1 by planner"
    assert b.write(art, "v2 by writer") == 2
    status, body = raw(server, "POST", "/v1/write", json.dumps(
        {"agent": "planner", "artifact": art, "content": "planner's stale edit"}).encode())
    assert status == 409 and body["code"] == "stale_view" and body["current_version"] == 2
    with pytest.raises(StaleView) as err:
        a.write(art, "planner's stale edit")
    assert err.value.artifact == art and err.value.recover
    assert a.reacquire(art).value == "v2 by writer"
    assert a.write(art, "v3 re-derived") == 3
    assert b.read(art).value == "v3 re-derived"  # nothing lost, nothing stale landed


def test_compare_and_set_commit_and_values_of_every_kind(server):
    c = HttpClient(server.url, token=server.token, agent="cas")
    art = f"cfg-{uuid.uuid4().hex[:6]}"
    assert c.write_cas(art, 0, {"n": 1, "tags": ["a"]}) == 1
    with pytest.raises(VersionConflict) as err:
        c.commit_cas(art, 0, {"n": 2})
    assert err.value.current_version == 1
    assert c.commit_cas(art, 1, b"\x00\xffbytes") == 2
    got = c.read(art)
    assert (got.value, got.version) == (b"\x00\xffbytes", 2)
    c.reacquire(art)
    assert c.commit(art, "under the grant") == 3
    HttpClient(server.url, token=server.token, agent="peer").read(art)  # a peer read takes the grant
    with pytest.raises(NotOwner):
        c.commit(art, "no longer the owner")
    assert c.read(art).value == "under the grant"


def test_transaction_all_or_nothing(server):
    c = HttpClient(server.url, token=server.token, agent="txn")
    x, y = (f"t-{uuid.uuid4().hex[:6]}-{n}" for n in "xy")
    assert c.transaction({x: "x1", y: [1, 2]}) == {x: 1, y: 1}
    c.write_cas(x, 1, "x2 by someone")
    with pytest.raises(TransactionConflict):
        c.transaction({x: "x3", y: "y2"}, expected_versions={x: 1, y: 1})
    assert (c.read(x).value, c.read(y).value) == ("x2 by someone", [1, 2])
    assert c.transaction({x: DELETE, y: "y2"}, expected_versions={x: 2, y: 1}) == {x: 3, y: 2}
    assert c.read(x).exists is False


def test_heartbeat_status_and_log(server):
    c = HttpClient(server.url, token=server.token, agent="inspector")
    art = f"log-{uuid.uuid4().hex[:6]}"
    c.write(art, "one")
    c.heartbeat()
    status = c.status(prefix=art)
    assert [r["artifact"] for r in status["artifacts"]] == [art]
    assert status["server"]["read_only"] is False and status["server"]["max_body_bytes"] > 16 * 2 ** 20
    entries = c.log(art)
    assert [(e["outcome"], e["agent_name"], e["version"]) for e in entries] == [("committed", "inspector", 1)]


def test_bad_requests_are_typed_with_their_statuses(server):
    status, body = raw(server, "POST", "/v1/read", b"{not json")
    assert (status, body["code"], body["details"]["reason"]) == (400, "invalid_request", "malformed_body")
    status, body = raw(server, "POST", "/v1/write", json.dumps(
        {"agent": "a", "artifact": "x", "content": "c", "encodng": "base64"}).encode())
    assert (status, body["code"], body["details"]["unknown_fields"]) == (422, "invalid_request", ["encodng"])
    status, body = raw(server, "POST", "/v1/write_cas", json.dumps(
        {"agent": "a", "artifact": "x", "content": "c", "expected_version": "1"}).encode())
    assert (status, body["code"]) == (422, "invalid_argument")
    assert body["details"]["parameter"] == "expected_version"
    status, body = raw(server, "GET", "/v1/nowhere")
    assert (status, body["code"]) == (404, "unknown_endpoint")
    status, body = raw(server, "GET", "/v1/write")
    assert (status, body["code"]) == (405, "unknown_endpoint")
    c = HttpClient(server.url, token=server.token, agent="a")
    with pytest.raises(InvalidIdentifier):
        c.read("../../etc/passwd")
    with pytest.raises(UnknownEndpoint):
        c.request("POST", "/v1/nothing", {})
    with pytest.raises(InvalidRequest):
        c.write("x", "text", agent="a" * 300)  # agent names are at most 256 bytes
    assert raw(server, "GET", "/v1/status")[0] == 200  # still serving


def test_remote_cache_is_invalidated_when_another_agent_commits(server):
    art = f"shared-{uuid.uuid4().hex[:6]}.md"
    writer = HttpClient(server.url, token=server.token, agent="writer")
    writer.write(art, "v1")
    reader = HttpClient(server.url, token=server.token, agent="reader")
    with reader.cache() as cache:
        assert wait_for(cache.ready.is_set)
        assert cache.read(art) == "v1"
        assert cache.read(art) == "v1" and cache.hits == 1  # served from the remote cache
        writer.write_cas(art, 1, "v2 over HTTP")
        assert wait_for(lambda: not cache.cached(art)), "the event stream did not invalidate the copy"
        assert cache.read(art) == "v2 over HTTP"
        if server.engine != "memory://":  # an agent that is not behind this server at all
            core = CoherenceAdapterCore(server.engine)
            try:
                core.agent("direct").commit_cas(art, 2, "v3 from the library")
            finally:
                core.close()
            assert wait_for(lambda: not cache.cached(art)), "a commit by another process was missed"
            assert cache.read(art) == "v3 from the library"
        assert cache.invalidations >= 1


def test_client_says_unavailable_before_sending_and_unknown_after(tmp_path):
    with serve("memory://", tmp_path) as srv:
        url, token = srv.url, srv.token
    c = HttpClient(url, token=token, agent="a")
    with pytest.raises(BackendUnavailable) as err:  # the server is gone: connection refused
        c.write("x", "v")
    assert not isinstance(err.value, OutcomeUnknown)
    # A listener that takes the request and hangs up without answering: a write may have landed.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def hang_up() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            conn.recv(65536)
            conn.close()

    t = threading.Thread(target=hang_up, daemon=True)
    t.start()
    try:
        c = HttpClient(f"http://127.0.0.1:{port}", token=token, agent="a")
        with pytest.raises(OutcomeUnknown):
            c.write("x", "v")
        with pytest.raises(BackendUnavailable) as err:
            c.read("x")
        assert not isinstance(err.value, OutcomeUnknown)
    finally:
        t.join(timeout=10)
        listener.close()


def test_the_client_imports_nothing_outside_the_standard_library():
    code = ("import sys, ccs.client.http, ccs.client.http_cache; print(sorted({m.split('.')[0] for m in "
            "sys.modules} - set(sys.stdlib_module_names) - {'ccs', '__main__', '_distutils_hack'}))")
    out = subprocess.run([sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
