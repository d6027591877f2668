"""``CCS_DISABLE`` and ``ccs serve`` (docs/kill-switches.md): a real server process started with
the switch on takes a write derived from a stale read (last write wins), says so in a WARNING at
start, in a ``CCS-Coherence: disabled`` header on every response, in the body of every agent
operation and in ``/v1/status``; an explicit compare-and-set still compares. A misspelt value
stops the server before it creates anything."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys

from http_server import env, serve


def call(srv, method: str, path: str, body: dict | None = None, token: str | None = "server"):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        headers = {} if token is None else {"Authorization": f"Bearer {srv.token}"}
        conn.request(method, path, body=None if body is None else json.dumps(body).encode(),
                     headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null"), resp.headers
    finally:
        conn.close()


def lost_update(srv) -> tuple[int, dict, dict]:
    """b reads x, a overwrites it, b writes from its stale read: what b's write answers."""
    assert call(srv, "POST", "/v1/write", {"agent": "a", "artifact": "x", "content": "0"})[0] == 200
    assert call(srv, "POST", "/v1/read", {"agent": "b", "artifact": "x"})[0] == 200
    assert call(srv, "POST", "/v1/write", {"agent": "a", "artifact": "x", "content": "by a"})[0] == 200
    return call(srv, "POST", "/v1/write", {"agent": "b", "artifact": "x", "content": "by b"})


def test_coherent_server_refuses_the_stale_write_and_has_no_marker(tmp_path):
    environ = {k: v for k, v in os.environ.items() if k != "CCS_DISABLE"}
    with serve("memory://", tmp_path, environ=environ) as srv:
        status, err, headers = lost_update(srv)
        assert (status, err["code"]) == (409, "stale_view") and "CCS-Coherence" not in headers
        assert call(srv, "GET", "/v1/status")[1]["server"]["coherence"] == "on"


def test_disabled_server_passes_writes_through_loudly_and_cas_still_compares(tmp_path):
    with serve(f"sqlite:///{tmp_path}/state.db", tmp_path, environ={**os.environ, "CCS_DISABLE": "1"}) as srv:
        status, out, headers = lost_update(srv)
        assert status == 200 and out["version"] == 3 and out["coherence"].startswith("disabled")
        assert headers["CCS-Coherence"] == "disabled"
        status, out, headers = call(srv, "POST", "/v1/read", {"agent": "a", "artifact": "x"})
        assert out["content"] == "by b" and out["coherence"].startswith("disabled")  # asks the engine
        status, err, headers = call(srv, "POST", "/v1/write_cas", {
            "agent": "a", "artifact": "x", "expected_version": 2, "content": "cas"})
        assert (status, err["code"]) == (409, "version_conflict") and headers["CCS-Coherence"] == "disabled"
        assert call(srv, "POST", "/v1/commit_cas", {"agent": "a", "artifact": "x", "expected_version": 3,
                                                    "content": "cas"})[0] == 200
        # a transaction: no implicit base (lands over a's stale view), explicit ones compare
        call(srv, "POST", "/v1/write", {"agent": "b", "artifact": "x", "content": "by b again"})
        status, out, _ = call(srv, "POST", "/v1/transaction", {"agent": "a", "writes": {
            "x": {"content": "txn"}, "y": {"content": "new"}}})
        assert status == 200 and out["versions"] == {"x": 6, "y": 1}
        status, err, _ = call(srv, "POST", "/v1/transaction", {"agent": "a", "writes": {
            "x": {"content": "txn2"}}, "expected_versions": {"x": 5}})
        assert (status, err["code"]) == (409, "transaction_conflict")
        status, _, headers = call(srv, "GET", "/v1/status", token=None)  # the guard's refusal too
        assert status == 401 and headers["CCS-Coherence"] == "disabled"
        server = call(srv, "GET", "/v1/status")[1]["server"]
        assert server["coherence"].startswith("disabled (CCS_DISABLE is set")
        srv.stop()
        assert "CCS_DISABLE is set: ccs serve" in srv.stderr()
        assert "still checks every write" not in srv.stderr()  # the agent API's line would be wrong


def test_a_misspelt_switch_stops_the_server_before_anything(tmp_path):
    token = tmp_path / "cfg" / "token"
    done = subprocess.run([sys.executable, "-m", "ccs.cli.main", "serve", "--engine", "memory://",
                           "--port", "0", "--token-file", str(token)],
                          env={**env(), "CCS_DISABLE": "maybe"}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and "[invalid_switch]" in done.stderr and "CCS_DISABLE" in done.stderr
    assert done.stdout == "" and not token.exists()
