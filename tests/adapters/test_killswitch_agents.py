"""``CCS_DISABLE=1`` on the agent-based adapters (real AutoGen and OpenAI Agents SDK objects) and
the agent API: the adapters write blind (the lost update comes back), log a WARNING and carry
the marker; the agent API keeps checking and says so."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

pytest.importorskip("autogen_core")
pytest.importorskip("agents")

from autogen_core import CancellationToken
from autogen_core.memory import MemoryContent
from autogen_core.model_context import UnboundedChatCompletionContext

import killswitch_fixtures
from ccs import CoherenceAdapterCore, VersionConflict
from ccs.adapters.autogen import SharedArtifacts as AutoGenShared
from ccs.adapters.openai_agents import CoherentSession
from ccs.adapters.openai_agents import SharedArtifacts as OpenAIShared
from ccs.protocol.errors import InvalidSwitch, StaleView
from killswitch_fixtures import warned

disabled, enabled = killswitch_fixtures.disabled, killswitch_fixtures.enabled
PLAN = "# plan\n"


def tool(shared: AutoGenShared, agent: str, name: str):
    return next(t for t in shared.tools_for(agent) if t.name == name)


def run_tool(shared, agent, name, **args) -> dict:
    return json.loads(asyncio.run(tool(shared, agent, name).run_json(args, CancellationToken())))


def autogen_race(shared: AutoGenShared) -> tuple[dict, dict]:
    """writer and reviewer read v1 with their tools; reviewer writes; writer writes from v1."""
    shared.agent("setup").write("plan.md", PLAN)
    run_tool(shared, "writer", "read_artifact", artifact="plan.md")
    run_tool(shared, "reviewer", "read_artifact", artifact="plan.md")
    reviewer = run_tool(shared, "reviewer", "write_artifact", artifact="plan.md",
                        content=PLAN + "- reviewer\n")
    writer = run_tool(shared, "writer", "write_artifact", artifact="plan.md", content=PLAN + "- writer\n")
    return reviewer, writer


def test_autogen_tools_refuse_the_stale_write_when_coherence_is_on(enabled):
    shared = AutoGenShared("memory://", ["plan.md"])
    assert shared.coherence_disabled is False
    reviewer, writer = autogen_race(shared)
    assert reviewer["ok"] and not writer["ok"] and writer["code"] in ("stale_view", "version_conflict")
    assert shared.agent("check").read("plan.md") == PLAN + "- reviewer\n"


def test_autogen_is_a_logged_pass_through_and_loses_the_reviewers_edit(disabled):
    shared = AutoGenShared("memory://", ["plan.md"])
    assert shared.coherence_disabled is True and warned(disabled, "AutoGen SharedArtifacts")
    reviewer, writer = autogen_race(shared)
    assert reviewer["ok"] and writer["ok"]
    assert shared.agent("check").read("plan.md") == PLAN + "- writer\n"  # the reviewer's line is lost


def test_autogen_memory_add_is_unchecked_while_disabled(disabled):
    shared = AutoGenShared("memory://", ["plan.md"])
    shared.agent("setup").write("plan.md", PLAN)
    memory = shared.memory_for("writer")
    assert memory.coherence_disabled is True

    async def scenario():
        await memory.update_context(UnboundedChatCompletionContext())  # writer is shown v1
        shared.agent("reviewer").write_cas("plan.md", lambda p: p + "- reviewer\n")
        await memory.add(MemoryContent(content=PLAN + "- writer\n", mime_type="text/markdown",
                                       metadata={"artifact": "plan.md"}))  # no VersionConflict

    asyncio.run(scenario())
    assert shared.agent("check").read("plan.md") == PLAN + "- writer\n"


def user(text: str) -> dict:
    return {"role": "user", "content": text}


async def undo_race(a: CoherentSession, b: CoherentSession):
    """A adds its turn, B adds one, A undoes "its" last turn with pop_item."""
    await a.add_items([user("A: what is 2+2?")])
    await a.get_items()
    await b.add_items([user("B: deploy now")])
    return await a.pop_item()


def test_openai_session_refuses_the_pop_when_coherence_is_on(enabled):
    core = CoherenceAdapterCore()
    a, b = CoherentSession("team", core=core), CoherentSession("team", core=core)
    assert a.coherence_disabled is False
    with pytest.raises(StaleView):
        asyncio.run(undo_race(a, b))


def test_openai_session_is_a_logged_pass_through_and_pops_the_other_runs_item(disabled):
    core = CoherenceAdapterCore()
    a, b = CoherentSession("team", core=core), CoherentSession("team", core=core)
    assert a.coherence_disabled is True and warned(disabled, "OpenAI Agents CoherentSession")
    popped = asyncio.run(undo_race(a, b))
    assert popped["content"] == "B: deploy now"  # the SQLiteSession hazard is back
    assert [i["content"] for i in asyncio.run(b.get_items())] == ["A: what is 2+2?"]


def test_openai_shared_artifacts_write_blind_while_disabled(disabled):
    shared = OpenAIShared(engine="memory://")
    assert shared.coherence_disabled is True and warned(disabled, "OpenAI Agents SharedArtifacts")
    shared.write("setup", "plan.md", PLAN)
    shared.read("writer", "plan.md")
    shared.read("reviewer", "plan.md")
    assert shared.write("reviewer", "plan.md", PLAN + "- reviewer\n")["ok"]
    assert shared.write("writer", "plan.md", PLAN + "- writer\n")["ok"]  # would be refused when on
    assert shared.read("check", "plan.md")["value"] == PLAN + "- writer\n"


def test_openai_shared_artifacts_refuse_when_coherence_is_on(enabled):
    shared = OpenAIShared(engine="memory://")
    shared.write("setup", "plan.md", PLAN)
    shared.read("writer", "plan.md")
    shared.read("reviewer", "plan.md")
    assert shared.write("reviewer", "plan.md", PLAN + "- reviewer\n")["ok"]
    assert not shared.write("writer", "plan.md", PLAN + "- writer\n")["ok"]


def test_the_agent_api_keeps_checking_and_says_so(disabled):
    core = CoherenceAdapterCore()
    assert core.coherence_disabled is False
    assert any(r.levelno == logging.WARNING and "agent API" in r.getMessage()
               and "still checks" in r.getMessage() for r in disabled.records)
    a, b = core.agent("a"), core.agent("b")
    a.write("x", 1)
    b.read("x")
    a.write("x", 2)
    with pytest.raises(VersionConflict):
        b.commit_cas("x", 1, 3)


def test_a_typo_stops_the_agent_api_and_the_adapters(monkeypatch):
    monkeypatch.setenv("CCS_DISABLE", "treu")
    for build in (CoherenceAdapterCore, lambda: AutoGenShared("memory://"),
                  lambda: OpenAIShared(engine="memory://")):
        with pytest.raises(InvalidSwitch):
            build()
