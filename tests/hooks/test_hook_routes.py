"""ccs.hooks.http: the /hooks/<route> routes `ccs serve` mounts, through Starlette's test client
(the real app, real HTTP requests in memory), with the same two-session scenario as the CLI."""

from __future__ import annotations

import pytest

pytest.importorskip("httpx")
from starlette.applications import Starlette
from starlette.testclient import TestClient

from ccs.hooks.http import hook_routes
from ccs.hooks.payload import parse as parse_payload
from ccs.hooks.payload import route_of
from claude_hooks import Session, context, denied, stale_edit_denied_then_redone

PLAN = "# Plan\n- step 1\n"


def client(tmp_path, read_only=False):
    app = Starlette(routes=hook_routes(engine_url=f"sqlite:///{tmp_path}/state.db", read_only=read_only,
                                       root=str(tmp_path)))
    return TestClient(app)


def poster(http, mode):
    def hook(payload):
        action = parse_payload(payload).action
        route = "pre-edit" if action == "ignore" else route_of(action)  # ignored there too
        resp = http.post(f"/hooks/{route}?mode={mode}", json=payload)
        assert resp.status_code == 200, resp.text
        return resp.json()
    return hook


def test_routes_deny_the_stale_edit_and_keep_both(tmp_path):
    (tmp_path / "plan.md").write_text(PLAN)
    with client(tmp_path) as http:
        _, b = stale_edit_denied_then_redone(tmp_path, poster(http, "strict"))
        assert b.bash("true") == {"pre": {}, "post": {}}
        assert b.end() == {}


def test_bad_requests_are_typed_4xx(tmp_path):
    (tmp_path / "plan.md").write_text(PLAN)
    with client(tmp_path) as http:
        s = Session("s1", tmp_path, None)
        edit = s.payload("PreToolUse", "Edit", {"file_path": str(tmp_path / "plan.md")})
        # the server's one mapping (ccs.server.errors): not a JSON object 400, a bad field 422
        for body in (b"not json", b"[]"):
            resp = http.post("/hooks/pre-edit", content=body)
            assert resp.status_code == 400 and resp.json()["code"] == "invalid_request"
            assert resp.json()["details"]["reason"] == "malformed_body"
        resp = http.post("/hooks/post-edit", content=b"{}")
        assert resp.status_code == 422 and resp.json()["code"] == "invalid_hook_payload"
        resp = http.post("/hooks/post-edit", json=edit)  # a PreToolUse payload on the post route
        assert resp.status_code == 422 and "/hooks/pre-edit" in resp.json()["message"]
        resp = http.post("/hooks/pre-edit?mode=loud", json=edit)
        assert resp.status_code == 422 and resp.json()["code"] == "invalid_request"
    assert (tmp_path / "plan.md").read_text() == PLAN


def test_read_only_records_nothing_but_still_refuses_a_provably_stale_edit(tmp_path):
    (tmp_path / "plan.md").write_text(PLAN)
    with client(tmp_path) as http:
        a = Session("a1", tmp_path, poster(http, "strict"))
        a.read("plan.md")
    with client(tmp_path, read_only=True) as http:
        a.hook = poster(http, "strict")
        assert a.edit("plan.md", "# Plan\n", "# P\n")["post"]["systemMessage"].endswith("not recorded")
        (tmp_path / "plan.md").write_text("# Plan\n- someone else\n")
        assert "outside any Claude Code session" in denied(a.edit("plan.md", "# Plan\n", "# P\n"))
        assert "Warning" in context(poster(http, "warn")(
            a.payload("PreToolUse", "Edit", {"file_path": str(tmp_path / "plan.md")})))


def test_the_repository_is_the_servers_never_the_payloads_cwd(tmp_path, monkeypatch):
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    repo.mkdir()
    elsewhere.mkdir()
    (elsewhere / "secret.txt").write_text("not for the engine\n")
    monkeypatch.chdir(repo)  # where the server was started: its repository by default
    routes = hook_routes(engine_url=f"sqlite:///{tmp_path}/state.db", read_only=False)
    with TestClient(Starlette(routes=routes)) as http:
        s = Session("s1", elsewhere, None)  # cwd: elsewhere
        read = s.payload("PostToolUse", "Read", {"file_path": str(elsewhere / "secret.txt")}, {})
        assert http.post("/hooks/pre-read", json=read).json() == {}
    assert not (elsewhere / ".ccs").exists()
    from ccs.adapters.coherent_volume import CoherentVolume
    with CoherentVolume(repo, managed=None, engine=f"sqlite:///{tmp_path}/state.db") as vol:
        assert vol.status()["files"] == []  # nothing adopted
