"""The SDK's native lost-update shape: agents run by ``Runner.run`` concurrently each read a
shared document, think, and write it back. Over plain tools the writes clobber each other; over
``SharedArtifacts.tools()`` every write lands or is refused, and the refused agent recovers."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("agents")

from oai_team import DOC, START, dict_tools, line, run_team

from ccs.adapters.openai_agents import SharedArtifacts
from ccs.client.agent import Agent as CcsAgent

NAMES = ["alice", "bob", "carol", "dave"]


def lines_of(text: str) -> set[str]:
    return {ln + "\n" for ln in text.splitlines() if ln.startswith("- ")}


def test_baseline_plain_tools_lose_updates():
    store = {DOC: START}
    asyncio.run(run_team(NAMES, lambda name: dict_tools(store)))
    # every agent was told its write succeeded; only the last one's line survived
    assert len(lines_of(store[DOC])) == 1


@pytest.mark.parametrize("recover", ["reread", "update"])
def test_adapter_refuses_stale_writes_and_nothing_is_lost(recover):
    with SharedArtifacts() as shared:
        shared.core.agent("setup").write(DOC, START)
        models = asyncio.run(run_team(NAMES, lambda name: shared.tools(), hooks=shared.hooks(),
                                      recover=recover))
        final = shared.core.agent("check").read(DOC)
    assert lines_of(final) == {line(n) for n in NAMES}
    assert final.startswith(START)
    refused = [e for e in shared.events if e.get("outcome") == "refused"]
    assert len(refused) >= len(NAMES) - 1  # all read v1; one write won, the others were refused
    assert all(e["code"] == "stale_view" for e in refused)
    # the refusal reached the model as a structured tool result, not an exception
    payloads = [r for m in models for t in m.turns for r in t.results()
                if isinstance(r, dict) and r.get("ok") is False]
    assert payloads and {p["code"] for p in payloads} == {"stale_view"}
    for p in payloads:
        assert p["artifact"] == DOC and isinstance(p["current_version"], int)
        assert "read_artifact" in p["recover"]


def test_refused_agent_gets_the_change_as_a_diff_before_its_next_model_call():
    with SharedArtifacts() as shared:
        shared.core.agent("setup").write(DOC, START)
        hooks = shared.hooks()
        models = asyncio.run(run_team(NAMES[:2], lambda name: shared.tools(), hooks=hooks))
    notes = [n for m in models for t in m.turns for n in t.notes() if "agent-coherence" in n]
    assert notes, "the agent whose copy went stale was told before its next model call"
    # the peer's line, rendered against the version this agent's prompt holds (the document is
    # tiny, so the full content is cheaper than a diff here; see the session test for a diff)
    assert any(line(n) in note for note in notes for n in NAMES[:2])
    assert {r.kind for r in hooks.injected} <= {"diff", "content"}


def test_the_tests_fail_without_the_check(monkeypatch):
    """Mutation check: make every adapter write blind (last write wins) and the same run loses
    lines, so the assertion above depends on the adapter's check and nothing else."""
    original = CcsAgent.write
    monkeypatch.setattr(CcsAgent, "write",
                        lambda self, aid, value, blind=False: original(self, aid, value, blind=True))
    with SharedArtifacts() as shared:
        shared.core.agent("setup").write(DOC, START)
        asyncio.run(run_team(NAMES, lambda name: shared.tools(), hooks=shared.hooks()))
        final = shared.core.agent("check").read(DOC)
    assert len(lines_of(final)) < len(NAMES)


def test_sqlite_engine_variant(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with SharedArtifacts(engine=url) as shared:
        shared.core.agent("setup").write(DOC, START)
        asyncio.run(run_team(NAMES, lambda name: shared.tools(), hooks=shared.hooks()))
    with SharedArtifacts(engine=url) as other:  # another core on the same file: what landed
        final = other.core.agent("check").read(DOC)
    assert lines_of(final) == {line(n) for n in NAMES}


def test_tool_payloads_are_json_with_the_documented_fields():
    with SharedArtifacts() as shared:
        a = shared.read("a", DOC)
        assert a == {"ok": True, "artifact": DOC, "version": 0, "exists": False, "value": None}
        assert shared.write("a", DOC, "x")["ok"]
        shared.read("b", DOC)
        assert shared.write("a", DOC, "xy")["version"] == 2
        refused = shared.write("b", DOC, "xz")
        assert refused["ok"] is False and refused["code"] == "stale_view"
        assert refused["current_version"] == 2 and refused["artifact"] == DOC
        json.dumps(refused)
        upd = shared.edit("b", DOC, find="y", replace="Y", append="!")
        assert upd == {"ok": True, "artifact": DOC, "version": 3, "value": "xY!"}
        bad = shared.edit("b", DOC, find="nothere", replace="z")
        assert bad["ok"] is False and bad["code"] == "edit_not_applicable"
        assert shared.edit("b", DOC)["code"] == "edit_not_applicable"
