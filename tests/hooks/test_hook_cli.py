"""`ccs hook claude-code` as Claude Code runs it: one process per hook call, the documented payloads
on stdin, two sessions on one repository. The tools' effects on the file are applied between the
PreToolUse and PostToolUse calls as the real tools apply them (tests/claude_hooks.py)."""

from __future__ import annotations

import json
import uuid

import pytest

from claude_hooks import Session, context, denied, hook_process, run_hook
from conformance.conftest import drop_store, with_query
from conftest import service_url

PLAN = "# Plan\n- step 1\n"


@pytest.fixture(params=["sqlite", "postgres"])
def engine_args(request):
    """The default state (<root>/.ccs/state.db), and one shared engine (each hook call is a
    process of its own: one engine is enough to show the state is the engine's, not local)."""
    if request.param == "sqlite":
        yield []
        return
    url = with_query(service_url("CCS_TEST_POSTGRES_DSN"), schema=f"hk{uuid.uuid4().hex[:10]}")
    yield ["--engine", url]
    drop_store(url)


def sessions(root, *args):
    (root / "plan.md").write_text(PLAN)
    hook = lambda payload: run_hook(payload, *args)  # noqa: E731
    return Session("a" * 8 + "-1111", root, hook), Session("b" * 8 + "-2222", root, hook)


def test_strict_denies_the_stale_edit_and_nothing_is_lost(tmp_path, engine_args):
    a, b = sessions(tmp_path, "--mode", "strict", *engine_args)
    a.read("plan.md")
    b.read("plan.md")
    assert a.edit("plan.md", "- step 1\n", "- step 1\n- step A\n")["post"] == {}
    out = b.edit("plan.md", "# Plan\n", "# Plan\n- step B\n")
    reason = denied(out)
    assert reason is not None
    assert "you read version 1, it is now version 2" in reason
    assert "Claude Code session aaaaaaaa" in reason and "Read plan.md again" in reason
    assert (tmp_path / "plan.md").read_text() == "# Plan\n- step 1\n- step A\n"  # B's edit never ran
    b.read("plan.md")
    assert b.edit("plan.md", "# Plan\n", "# Plan\n- step B\n")["post"] == {}
    assert (tmp_path / "plan.md").read_text() == "# Plan\n- step B\n- step 1\n- step A\n"
    # and now A is the stale one
    assert denied(a.multi_edit("plan.md", [("- step A\n", "- step A2\n")]))


def test_warn_lets_the_edit_run_and_tells_the_model(tmp_path):
    a, b = sessions(tmp_path, "--mode", "warn")
    a.read("plan.md")
    b.read("plan.md")
    a.edit("plan.md", "- step 1\n", "- step 1\n- step A\n")
    out = b.edit("plan.md", "# Plan\n", "# Plan\n- step B\n")
    assert denied(out["pre"]) is None
    assert "Warning: plan.md changed since this session read it" in context(out["pre"])
    assert "stale view of plan.md" in out["pre"]["systemMessage"]
    assert "was applied over version 2" in context(out["post"])  # and after: check their change
    assert (tmp_path / "plan.md").read_text() == "# Plan\n- step B\n- step 1\n- step A\n"
    # the warned edit is recorded, but B must read again before its view is current
    assert context(b.edit("plan.md", "- step B\n", "- step B2\n")["pre"])
    b.read("plan.md")
    assert b.edit("plan.md", "- step B2\n", "- step B3\n")["pre"] == {}


def test_write_multiedit_and_a_new_file(tmp_path):
    a, b = sessions(tmp_path, "--mode", "strict")
    assert a.write("notes.md", "A's notes\n")["post"] == {}  # creating needs no read
    assert denied(b.write("notes.md", "B's notes\n"))  # but overwriting an unread file does
    a.read("plan.md")
    b.read("plan.md")
    a.multi_edit("plan.md", [("# Plan\n", "# The plan\n"), ("- step 1\n", "- step one\n")])
    assert "version 2" in denied(b.write("plan.md", "# Plan\n- mine only\n"))
    assert (tmp_path / "plan.md").read_text() == "# The plan\n- step one\n"
    b.read("plan.md")
    assert b.write("plan.md", "# The plan\n- step one\n- B\n")["post"] == {}


def test_an_edit_outside_any_session_makes_views_stale(tmp_path):
    a, _ = sessions(tmp_path, "--mode", "strict")
    a.read("plan.md")
    (tmp_path / "plan.md").write_text(PLAN + "- typed in an editor\n")  # a person, no hook
    reason = denied(a.edit("plan.md", "- step 1\n", "- step 1\n- A\n"))
    assert "outside any Claude Code session" in reason
    a.read("plan.md")
    a.edit("plan.md", "- step 1\n", "- step 1\n- A\n")
    assert (tmp_path / "plan.md").read_text() == "# Plan\n- step 1\n- A\n- typed in an editor\n"


def test_bash_is_not_covered_but_its_writes_are_caught_at_the_next_edit(tmp_path):
    a, b = sessions(tmp_path, "--mode", "strict")
    a.read("plan.md")
    b.read("plan.md")
    out = b.bash("echo '- appended by bash' >> plan.md")
    assert out == {"pre": {}, "post": {}}  # nothing checked, nothing recorded, nothing crashed
    # B's own Bash write is not attributed to B: to every session it is a change from outside
    assert "outside any Claude Code session" in denied(b.edit("plan.md", "# Plan\n", "# P\n"))
    assert "outside any Claude Code session" in denied(a.edit("plan.md", "# Plan\n", "# P\n"))


def test_a_change_racing_a_read_leaves_the_view_older(tmp_path):
    """PreToolUse Read registers the version then current; if a commit lands before the
    PostToolUse, the view is the older version, so the next edit is refused, not let through."""
    a, b = sessions(tmp_path, "--mode", "strict")
    a.read("plan.md")
    pre = b.payload("PreToolUse", "Read", {"file_path": str(tmp_path / "plan.md")}, tool_use_id="r1")
    assert run_hook(pre) == {}
    a.edit("plan.md", "- step 1\n", "- step 1\n- A\n")  # lands while B's Read runs
    post = b.payload("PostToolUse", "Read", {"file_path": str(tmp_path / "plan.md")},
                     {"type": "text", "file": {}}, "r1")
    assert run_hook(post) == {}
    assert "you read version 1, it is now version 2" in denied(b.edit("plan.md", "# Plan\n", "# P\n"))


def test_session_end_forgets_the_views(tmp_path):
    a, _ = sessions(tmp_path, "--mode", "strict")
    a.read("plan.md")
    assert a.end() == {}
    assert "has not read it" in denied(a.edit("plan.md", "# Plan\n", "# P\n"))


def test_bad_payloads_never_block_claude_code(tmp_path):
    (tmp_path / "plan.md").write_text(PLAN)
    for raw in ("not json", "[1, 2]", '{"session_id": "s"}', '{"session_id": "../x", '
                '"hook_event_name": "PreToolUse", "tool_name": "Edit", "tool_input": {}}'):
        proc = hook_process(raw, "--mode", "strict", "--root", str(tmp_path))
        assert proc.returncode == 1, (raw, proc.stderr)  # 2 would block the tool call
        assert proc.stderr.startswith("ccs hook: error [invalid_hook_payload]: "), proc.stderr
        assert proc.stdout == ""
    s = Session("s1", tmp_path, run_hook)
    unknown = s.payload("PreToolUse", "WebFetch", {"url": "http://example.invalid"})
    assert run_hook(unknown, "--mode", "strict") == {}
    outside = s.payload("PreToolUse", "Edit", {"file_path": "/etc/hostname"})
    assert run_hook(outside, "--mode", "strict") == {}
    state = s.payload("PreToolUse", "Write", {"file_path": str(tmp_path / ".ccs" / "state.db")})
    assert run_hook(state, "--mode", "strict") == {}
    stop = {"session_id": "s1", "cwd": str(tmp_path), "hook_event_name": "Stop"}
    assert run_hook(stop) == {}  # a turn ended: the views stay


def test_an_edit_that_cannot_be_checked_is_refused_in_strict_mode(tmp_path):
    a, _ = sessions(tmp_path, "--mode", "strict", "--engine", "postgresql://nobody@127.0.0.1:1/none")
    out = a.edit("plan.md", "# Plan\n", "# P\n")
    assert "[backend_unavailable]" in denied(out)
    warn = run_hook(a.payload("PreToolUse", "Edit", {"file_path": str(tmp_path / "plan.md")}),
                    "--engine", "postgresql://nobody@127.0.0.1:1/none")
    assert "NOT checked" in context(warn)
    assert (tmp_path / "plan.md").read_text() == PLAN


def test_notebook_edit_is_checked_like_edit(tmp_path):
    a, b = sessions(tmp_path, "--mode", "strict")
    nb = tmp_path / "nb.ipynb"
    nb.write_text('{"cells": []}\n')
    a.read("nb.ipynb")
    edit = {"notebook_path": str(nb), "new_source": "x = 1", "edit_mode": "insert"}
    assert run_hook(a.payload("PreToolUse", "NotebookEdit", edit, tool_use_id="n1"), "--mode", "strict") == {}
    nb.write_text('{"cells": [1]}\n')  # what the tool writes
    assert run_hook(a.payload("PostToolUse", "NotebookEdit", edit, {}, "n1"), "--mode", "strict") == {}
    reason = denied(run_hook(b.payload("PreToolUse", "NotebookEdit", edit), "--mode", "strict"))
    assert "nb.ipynb exists (version 2) but this session has not read it" in reason


def test_the_volume_lists_files_not_the_sessions_views(tmp_path):
    from ccs.adapters.coherent_volume import CoherentVolume

    a, _ = sessions(tmp_path, "--mode", "strict")
    a.read("plan.md")
    with CoherentVolume(tmp_path, managed=None) as vol:
        assert [f["path"] for f in vol.status()["files"]] == ["plan.md"]
        assert vol.repair() == {"repaired": 0, "orphans_removed": 0}


def test_ccs_disable_lets_every_edit_through_and_says_so(tmp_path):
    a, b = sessions(tmp_path, "--mode", "strict")
    a.read("plan.md")
    b.read("plan.md")
    a.edit("plan.md", "- step 1\n", "- step 1\n- A\n")
    edit = b.payload("PreToolUse", "Edit", {"file_path": str(tmp_path / "plan.md")})
    proc = hook_process(edit, "--mode", "strict", env={"CCS_DISABLE": "1"})
    assert proc.returncode == 0
    out = json.loads(proc.stdout)
    assert denied(out) is None and "agent-coherence is DISABLED (CCS_DISABLE is set)" in out["systemMessage"]
    assert "CCS_DISABLE is set: ccs hook claude-code is a pass-through" in proc.stderr  # the WARNING
    typo = hook_process(edit, "--mode", "strict", env={"CCS_DISABLE": "maybe"})
    assert "[invalid_switch]" in denied(json.loads(typo.stdout))  # neither on nor off: fail closed
    assert denied(run_hook(edit, "--mode", "strict"))  # and with the switch off, still stale
