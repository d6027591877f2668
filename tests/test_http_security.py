"""``ccs serve`` security: the token file (created 0600, refused when others can read it), every
request authenticated, non-loopback binds refused without TLS, TLS served, agent names bound to
tokens, the body limit (declared and chunked), read-only mode, and the per-request timeout."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sqlite3
import stat
import subprocess
import sys

import pytest

from ccs.client.http import HttpClient
from ccs.coordinator import Coordinator
from ccs.protocol.errors import Forbidden, OutcomeUnknown, ReadOnly, Unauthorized
from ccs.server.api import ENDPOINTS
from http_server import env, serve


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ccs.cli.main", "serve", *args], env=env(),
                          capture_output=True, text=True, timeout=timeout)


def post(srv, path: str, body: dict | bytes, token: str | None = "server", headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = f"Bearer {srv.token if token == 'server' else token}"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        conn.request("POST", path, body=data, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null"), resp.headers
    finally:
        conn.close()


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sec")
    engine = f"sqlite:///{tmp}/state.db"
    with serve(engine, tmp, token_file=tmp / "cfg" / "token") as srv:
        srv.engine = engine
        yield srv


def nothing_written(engine: str) -> bool:
    c = Coordinator(engine)
    try:
        return not any(r.exists for r in c.artifacts()) and not c.audit()
    finally:
        c.close()


def test_token_file_created_private_and_every_request_needs_the_token(sqlite_server):
    srv = sqlite_server
    mode = stat.S_IMODE(srv.token_file.stat().st_mode)
    assert mode == 0o600 and stat.S_IMODE(srv.token_file.parent.stat().st_mode) == 0o700
    assert len(srv.token) >= 32
    body = {"agent": "a", "artifact": "x", "content": "c"}
    for token in (None, "wrong-token-of-some-length", srv.token[:-1], ""):
        status, err, headers = post(srv, "/v1/write", body, token=token)
        assert (status, err["code"]) == (401, "unauthorized")
        assert headers["WWW-Authenticate"].startswith("Bearer")
    status, err, _ = post(srv, "/v1/write", body, token=None, headers={"Authorization": srv.token})
    assert (status, err["code"]) == (401, "unauthorized")  # not a Bearer scheme
    with pytest.raises(Unauthorized):
        HttpClient(srv.url, token="not-the-token-at-all", agent="a").status()
    for path in ("/openapi.json", "/v1/status", "/v1/events", "/nowhere"):
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        conn.request("GET", path)
        assert conn.getresponse().status == 401, path
        conn.close()
    assert nothing_written(srv.engine)


def test_a_token_file_others_can_read_is_refused(tmp_path):
    token = tmp_path / "token"
    token.write_text("a-token-that-is-long-enough\n")
    token.chmod(0o644)
    out = run_cli("--engine", "memory://", "--port", "0", "--token-file", str(token))
    assert out.returncode == 1 and "invalid_argument" in out.stderr and "chmod 600" in out.stderr


def test_non_loopback_bind_is_refused_without_tls_and_token(tmp_path):
    out = run_cli("--engine", "memory://", "--host", "0.0.0.0", "--port", "0",
                  "--token-file", str(tmp_path / "t"))
    assert out.returncode == 1 and "not a loopback address" in out.stderr
    assert not (tmp_path / "t").exists()  # refused before anything was created


def test_tls_is_served(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    with serve("memory://", tmp_path, "--tls-cert", str(cert), "--tls-key", str(key)) as srv:
        assert srv.url.startswith("https://")
        c = HttpClient(srv.url, token=srv.token, agent="a", cafile=str(cert))
        assert c.write("x", "over TLS") == 1 and c.read("x").value == "over TLS"
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:  # plain HTTP: no
            s.sendall(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
            assert not s.recv(100).startswith(b"HTTP/1.1 200")


def test_agent_names_bound_to_tokens(tmp_path):
    bindings = tmp_path / "agents.json"
    planner, writer = "planner-token-0123456789", "writer-token-0123456789"
    bindings.write_text(json.dumps({planner: ["planner"], writer: ["writer"]}))
    bindings.chmod(0o600)
    engine = f"sqlite:///{tmp_path}/state.db"
    with serve(engine, tmp_path, "--bind-agents", str(bindings)) as srv:
        p = HttpClient(srv.url, token=planner, agent="planner")
        assert p.write("plan.md", "by planner") == 1
        with pytest.raises(Forbidden):
            p.write("plan.md", "pretending to be the writer", agent="writer")
        with pytest.raises(Forbidden):
            p.read("plan.md", agent="writer")  # a read registers a view as that agent, too
        w = HttpClient(srv.url, token=writer, agent="writer")
        assert w.read("plan.md").value == "by planner"
        admin = HttpClient(srv.url, token=srv.token)  # the token file's token may act as anyone
        assert admin.read("plan.md", agent="writer").version == 1
    c = Coordinator(engine)
    try:
        assert [e.agent_name for e in c.audit("plan.md")] == ["planner"]
    finally:
        c.close()


def test_body_limit_declared_and_chunked(sqlite_server):
    srv = sqlite_server
    limit = HttpClient(srv.url, token=srv.token).status()["server"]["max_body_bytes"]
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.putrequest("POST", "/v1/write")
    conn.putheader("Authorization", f"Bearer {srv.token}")
    conn.putheader("Content-Length", str(limit + 1))
    conn.endheaders()  # refused on the header alone: the body is never sent
    resp = conn.getresponse()
    assert (resp.status, json.loads(resp.read())["code"]) == (413, "payload_too_large")
    conn.close()
    big = json.dumps({"agent": "a", "artifact": "big", "content": "x" * (limit + 10)}).encode()

    def chunks():
        for i in range(0, len(big), 1 << 20):
            yield big[i:i + (1 << 20)]

    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    try:
        conn.request("POST", "/v1/write", body=chunks(), encode_chunked=True,
                     headers={"Authorization": f"Bearer {srv.token}", "Transfer-Encoding": "chunked"})
        resp = conn.getresponse()
        assert (resp.status, json.loads(resp.read())["code"]) == (413, "payload_too_large")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed while the rest was still being sent
    finally:
        conn.close()
    # Content within the body limit but over the library's content limit: the library's 413.
    with pytest.raises(Exception) as err:
        HttpClient(srv.url, token=srv.token, agent="a").write("big", b"\0" * (16 * 2 ** 20 + 1))
    assert err.value.code == "payload_too_large"
    assert nothing_written(srv.engine)
    assert HttpClient(srv.url, token=srv.token).status()["artifacts"] == []


def test_read_only_refuses_every_mutating_endpoint(tmp_path):
    engine = f"sqlite:///{tmp_path}/state.db"
    core_url = engine
    from ccs import CoherenceAdapterCore

    core = CoherenceAdapterCore(core_url)
    core.agent("seed").write("plan.md", "seeded")
    core.close()
    before = Coordinator(engine)
    rec_before = before.artifact("plan.md")
    before.close()
    with serve(engine, tmp_path, "--read-only") as srv:
        bodies = {"agent": "a", "artifact": "plan.md", "content": "x", "expected_version": 1,
                  "writes": {"plan.md": {"content": "x"}}}
        mutating = [ep for ep in ENDPOINTS if ep.mutating]
        assert {ep.name for ep in mutating} >= {"write", "write_cas", "commit_cas", "reacquire", "commit",
                                                "transaction", "heartbeat"}
        for ep in mutating:
            body = {f.name: bodies[f.name] for f in ep.fields if f.name in bodies}
            status, err, _ = post(srv, ep.path, body)
            assert (status, err["code"]) == (403, "read_only"), ep.name
        c = HttpClient(srv.url, token=srv.token, agent="reader")
        with pytest.raises(ReadOnly):
            c.write("plan.md", "no")
        assert c.read("plan.md").value == "seeded"
        assert c.status()["server"]["read_only"] is True
        assert [e["agent_name"] for e in c.log("plan.md")] == ["seed"]
    after = Coordinator(engine)
    try:
        assert after.artifact("plan.md") == rec_before  # not even a view was registered
    finally:
        after.close()


def test_a_write_past_the_request_timeout_is_outcome_unknown(tmp_path):
    engine = f"sqlite:///{tmp_path}/state.db"
    with serve(engine, tmp_path, "--request-timeout", "0.5") as srv:
        c = HttpClient(srv.url, token=srv.token, agent="a")
        c.write("x", "v1")
        blocker = sqlite3.connect(str(tmp_path / "state.db"), timeout=1)
        blocker.execute("BEGIN EXCLUSIVE")  # a real lock: the server's commit waits on it
        try:
            with pytest.raises(OutcomeUnknown) as err:
                c.write("x", "v2")
            assert err.value.details["timeout"] == 0.5
        finally:
            blocker.rollback()
            blocker.close()
        assert c.status()["server"]["request_timeout"] == 0.5  # still serving
        assert srv.alive()


def test_server_never_left_running(tmp_path):
    with serve("memory://", tmp_path) as srv:
        pid = srv.proc.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_hook_routes_are_behind_the_same_guard(sqlite_server):
    pytest.importorskip("ccs.hooks.http", reason="the hooks (ccs.hooks) are not in this build")
    for path in ("/hooks/pre-read", "/hooks/pre-edit", "/hooks/post-edit", "/hooks/session-stop"):
        status, err, _ = post(sqlite_server, path, {"tool_name": "Read"}, token=None)
        assert (status, err["code"]) == (401, "unauthorized"), path


def test_a_bad_engine_url_is_a_typed_error_before_listening(tmp_path):
    out = run_cli("--engine", "nope://x", "--port", "0", "--token-file", str(tmp_path / "t"))
    assert out.returncode == 1 and "error [unknown_engine]" in out.stderr and "hint:" in out.stderr
    assert out.stdout == ""  # never announced an address


def test_websocket_handshakes_get_a_typed_refusal_and_the_server_keeps_serving(sqlite_server):
    srv = sqlite_server
    for token in (srv.token, None):  # refused whoever asks: there is no WebSocket route at all
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        try:
            conn.request("GET", "/v1/events", headers={
                "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                **({} if token is None else {"Authorization": f"Bearer {token}"})})
            resp = conn.getresponse()
            err = json.loads(resp.read())
        finally:
            conn.close()
        assert (resp.status, err["code"]) == (404, "unknown_endpoint"), err
        assert "no WebSocket endpoints" in err["message"] and "/v1/events" in err["recover"]
    assert HttpClient(srv.url, token=srv.token).status()["server"]["read_only"] is False
    assert srv.alive()


def test_a_refused_websocket_is_not_logged_as_a_server_error(tmp_path):
    with serve("memory://", tmp_path) as srv:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        conn.request("GET", "/v1/status", headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert conn.getresponse().status == 404
        conn.close()
        srv.stop()
        assert "ERROR" not in srv.stderr(), srv.stderr()


def test_bind_agents_patterns_only_end_a_name(tmp_path):
    bindings = tmp_path / "agents.json"
    bindings.write_text(json.dumps({"a-token-0123456789abcdef": ["plan*ner"]}))
    bindings.chmod(0o600)
    out = run_cli("--engine", "memory://", "--port", "0", "--token-file", str(tmp_path / "t"),
                  "--bind-agents", str(bindings))
    assert out.returncode == 1 and "error [invalid_argument]" in out.stderr and "prefix" in out.stderr
