"""`ccs hook claude-code --server` against a real `ccs serve` process (which mounts
ccs.hooks.http's routes), with its generated token file: the two-session scenario end to end over
loopback HTTP; and the hook routes behind `--bind-agents`: a token may act only as the sessions'
agents (`claude-code:<session_id>`) its binding allows. Runs where `ccs serve` exists."""

from __future__ import annotations

import http.client
import json

import pytest

from claude_hooks import Session, hook_process, run_hook, stale_edit_denied_then_redone

pytest.importorskip("ccs.server.run")
from ccs.server.spawn import spawned

HOOKS, PLANNER, ONE = "hook-token-0123456789", "planner-token-0123456789", "one-session-token-0123"


@pytest.fixture
def repo(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "plan.md").write_text("# Plan\n- step 1\n")
    return repo


def test_two_sessions_through_ccs_serve(repo, tmp_path):
    token = tmp_path / "token"
    with spawned(f"sqlite:///{tmp_path}/state.db", token_file=token, cwd=repo) as srv:  # repo: cwd
        args = ("--mode", "strict", "--server", srv.url, "--token-file", str(token))
        stale_edit_denied_then_redone(repo, lambda payload: run_hook(payload, *args))
        edit = Session("c3", repo, None).payload("PreToolUse", "Edit", {"file_path": str(repo / "plan.md")})
        proc = hook_process(edit, "--server", srv.url, env={"CCS_TOKEN": "not-the-token"})
        assert proc.returncode == 0 and "unauthorized" in proc.stdout  # warn mode: said, not denied


def post(srv, path: str, body: dict, token: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_hook_routes_act_only_as_the_sessions_a_token_is_bound_to(repo, tmp_path):
    bindings = tmp_path / "agents.json"
    bindings.write_text(json.dumps({HOOKS: ["claude-code:*"], PLANNER: ["planner"],
                                    ONE: ["claude-code:s1"]}))
    bindings.chmod(0o600)
    with spawned(f"sqlite:///{tmp_path}/state.db", "--bind-agents", str(bindings),
                 token_file=tmp_path / "token", cwd=repo) as srv:
        def read(session: str, token: str) -> tuple[int, dict]:
            payload = Session(session, repo, None).payload(
                "PostToolUse", "Read", {"file_path": str(repo / "plan.md")}, {})
            return post(srv, "/hooks/pre-read", payload, token)

        status, err = read("s3", PLANNER)  # a token bound to other agents: not a session
        assert (status, err["code"]) == (403, "forbidden") and "claude-code:s3" in err["message"]
        assert read("s4", ONE)[0] == 403  # bound to one session: not another
        assert read("s1", ONE) == (200, {})
        assert read("s2", HOOKS) == (200, {})  # claude-code:* : any session
        status, err = post(srv, "/v1/write", {"agent": "planner", "artifact": "x", "content": "c"},
                           HOOKS)
        assert (status, err["code"]) == (403, "forbidden")  # ...and nothing else
        status, err = post(srv, "/v1/write", {"agent": "claude-code:s9", "artifact": "x",
                                              "content": "c"}, HOOKS)
        assert status == 200  # the pattern is the same rule on every route
        status, _ = post(srv, "/hooks/pre-read", {"not": "a hook payload"}, HOOKS)
        assert status == 422  # the server's mapping: a bad field
    from ccs.adapters.coherent_volume import CoherentVolume
    with CoherentVolume(repo, managed=None, engine=f"sqlite:///{tmp_path}/state.db") as vol:
        views = {r.artifact_id for r in vol.coordinator.artifacts(".ccs/claude-code/")}
    assert views == {".ccs/claude-code/s1", ".ccs/claude-code/s2"}  # nothing for s3, s4
