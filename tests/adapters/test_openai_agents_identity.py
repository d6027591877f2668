"""Who is calling, and what each agent sees: identity from ``ToolContext.agent`` (or an explicit
name), one view per agent, and change notes only for what that agent read."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("agents")

from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.tool_context import ToolContext

from ccs.adapters.openai_agents import SharedArtifacts
from ccs.adapters.openai_agents.shared import BOUND_AGENT
from ccs.adapters.openai_agents.testing import ScriptedModel, call, say

set_tracing_disabled(True)

LONG = "".join(f"step {i}: keep\n" for i in range(40))


def run(agent, hooks=None):
    return asyncio.run(Runner.run(agent, "go", hooks=hooks, max_turns=10))


def scripted(*steps):
    steps = list(steps)

    def policy(turn):
        step = steps[turn.n - 1] if turn.n <= len(steps) else say("done")
        return step(turn) if callable(step) else step

    return ScriptedModel(policy)


def test_identity_is_the_sdk_agent_or_the_override():
    with SharedArtifacts() as shared:
        model = scripted(call("read_artifact", artifact_id="a"),
                         lambda t: call("write_artifact", artifact_id="a", content="x"))
        run(Agent(name="alice", model=model, tools=shared.tools()))
        model = scripted(call("read_artifact", artifact_id="b"),
                         lambda t: call("write_artifact", artifact_id="b", content="y"))
        run(Agent(name="bob", model=model, tools=shared.tools(agent="ops")))
    assert [(e["agent"], e["op"], e["artifact"]) for e in shared.events] == [
        ("alice", "read", "a"), ("alice", "write", "a"), ("ops", "read", "b"), ("ops", "write", "b")]
    assert all(e.get("outcome", "landed") == "landed" for e in shared.events)


def test_one_agents_read_never_validates_another_agents_write():
    with SharedArtifacts() as shared:
        shared.write("setup", "plan.md", "v1")
        assert shared.read("alice", "plan.md")["version"] == 1
        refused = shared.write("bob", "plan.md", "bob never read it")
        assert refused["ok"] is False and refused["code"] == "stale_view"
        assert shared.write("alice", "plan.md", "v2 by alice")["version"] == 2
        assert shared.core.agent("check").read("plan.md") == "v2 by alice"


def test_notes_only_for_what_the_agent_read_and_as_a_diff():
    with SharedArtifacts() as shared:
        shared.write("setup", "doc1", LONG)
        shared.write("setup", "doc2", "other")

        def peer_edits(turn):
            shared.write("carol", "doc1", shared.read("carol", "doc1")["value"].replace(
                "step 20: keep", "step 20: CHANGED"))
            return call("read_artifact", artifact_id="doc2")

        hooks = shared.hooks()
        alice = scripted(call("read_artifact", artifact_id="doc1"), peer_edits,
                         lambda t: say("noted"))
        bob = scripted(call("read_artifact", artifact_id="doc2"), lambda t: say("ok"))
        run(Agent(name="alice", model=alice, tools=shared.tools()), hooks)
        run(Agent(name="bob", model=bob, tools=shared.tools()), hooks)
    alice_notes = [n for t in alice.turns for n in t.notes() if "agent-coherence" in n]
    assert len(alice_notes) == 1
    assert "artifact-diff" in alice_notes[0] and "step 20: CHANGED" in alice_notes[0]
    assert "step 3: keep" not in alice_notes[0]  # a diff, not the 40 lines again
    assert not [n for t in bob.turns for n in t.notes() if "agent-coherence" in n]
    # the note is for that model call only: the SDK does not persist it
    assert sum("agent-coherence" in n for t in alice.turns[2:] for n in t.notes()) == 1


@pytest.mark.parametrize("adopt", [False, True])
def test_a_note_moves_the_view_only_when_adopted(adopt):
    with SharedArtifacts() as shared:
        shared.write("setup", "doc", "v1\n")
        shared.read("alice", "doc")
        shared.read("bob", "doc")
        shared.write("bob", "doc", "v1\nbob\n")
        changed = shared.changes("alice", adopt=adopt)
        assert [r.artifact for r in changed] == ["doc"]
        assert shared.changes("alice", adopt=adopt) == []  # shown once, not on every model call
        result = shared.write("alice", "doc", "v1\nbob\nalice\n")
        assert result["ok"] is adopt
        if not adopt:
            assert result["code"] == "stale_view"


def test_agent_hooks_and_binding_of_user_tools():
    seen = []
    with SharedArtifacts() as shared:

        @function_tool
        def whoami(ctx: ToolContext) -> str:
            """Who is calling."""
            seen.append((shared.agent_name(ctx), getattr(ctx, BOUND_AGENT, None)))
            return "ok"

        shared.write("setup", "doc", "v1\n")

        def peer(turn):
            shared.read("bob", "doc")
            assert shared.write("bob", "doc", "v2\n")["ok"]
            return call("whoami")

        model = scripted(call("read_artifact", artifact_id="doc"), peer, lambda t: say("done"))
        agent = Agent(name="alice", model=model, tools=[*shared.tools(), whoami],
                      hooks=shared.agent_hooks())
        run(agent)
    assert seen == [("alice", "alice")]
    assert any("agent-coherence" in n for t in model.turns for n in t.notes())
