"""A refused write reaches the model as a conflict packet, through each framework's own agent loop
(real AutoGen ``AssistantAgent`` and OpenAI Agents ``Runner``, driven offline by scripted models):
the packet in the tool result says who changed the artifact, the diff since the model's read, its
own change, and the call to make next; the scripted model acts on it in one turn and the write
lands with both edits."""

from __future__ import annotations

import asyncio
import json

import pytest

DOC = "plan.md"
NOTES = "".join(f"- note {i}: context the agents keep in the plan\n" for i in range(30))
START = "# plan\n- step 1: todo\n" + NOTES + "- step 2: todo\n"  # a diff is shorter than it
PEER = START.replace("step 2: todo", "step 2: peer")
MINE = START.replace("step 1: todo", "step 1: mine")
BOTH = PEER.replace("step 1: todo", "step 1: mine")


def _check_packet(result: dict, base: int, current: int) -> None:
    assert result["ok"] is False and result["code"] in ("stale_view", "version_conflict")
    packet = result["conflict_packet"]
    assert f"based on v{base}, the current version is v{current} (v{current} by peer)" in packet
    assert "-- step 2: todo\n+- step 2: peer" in packet  # what changed since the read
    assert "+- step 1: mine" in packet  # what the model tried to write
    assert "Nothing was written. Next: " in packet


def test_autogen_tool_result_carries_the_packet():
    pytest.importorskip("autogen_agentchat")
    pytest.importorskip("autogen_ext.models.replay")
    from autogen_agentchat.agents import AssistantAgent
    from autogen_script import call, model, say

    from ccs.adapters.autogen import SharedArtifacts

    shared = SharedArtifacts("memory://")
    shared.agent("setup").write(DOC, START)
    seen: list[dict] = []

    def write_stale(results):
        shared.agent("peer").write_cas(DOC, lambda old: PEER)  # a peer commits after the read
        return call("write_artifact", artifact=DOC, content=MINE)

    def resolve(results):
        refused = results[-1]
        seen.append(refused)
        assert "expected_version=2" in refused["conflict_packet"]
        return call("write_artifact", artifact=DOC, content=BOTH, expected_version=2)

    agent = AssistantAgent("writer", model_client=model(
        call("read_artifact", artifact=DOC), write_stale, resolve, say("done")),
        tools=shared.tools_for("writer"), reflect_on_tool_use=False, max_tool_iterations=4)
    asyncio.run(agent.run(task="add step 1"))
    _check_packet(seen[0], base=1, current=2)
    assert shared.agent("check").read(DOC) == BOTH


def test_openai_agents_tool_result_carries_the_packet():
    pytest.importorskip("agents")
    from agents import Agent, Runner, set_tracing_disabled

    from ccs.adapters.openai_agents import SharedArtifacts
    from ccs.adapters.openai_agents.testing import ScriptedModel, call, say

    set_tracing_disabled(True)
    shared = SharedArtifacts(engine="memory://")
    shared.core.agent("setup").write(DOC, START)
    seen: list[dict] = []

    def policy(turn):
        if turn.n == 1:
            return call("read_artifact", artifact_id=DOC)
        if turn.n == 2:
            shared.core.agent("peer").write_cas(DOC, lambda old: PEER)
            return call("write_artifact", artifact_id=DOC, content=MINE)
        if turn.n == 3:
            seen.append(turn.last())
            return call("read_artifact", artifact_id=DOC)
        if turn.n == 4:
            return call("write_artifact", artifact_id=DOC, content=BOTH)
        return say("done")

    agent = Agent(name="writer", model=ScriptedModel(policy), tools=shared.tools())
    asyncio.run(Runner.run(agent, "add step 1"))
    _check_packet(seen[0], base=1, current=2)
    assert shared.core.agent("check").read(DOC) == BOTH


def test_autogen_refusal_payload_is_json_with_the_packet():
    pytest.importorskip("autogen_core")
    from autogen_core import CancellationToken

    from ccs.adapters.autogen import SharedArtifacts

    shared = SharedArtifacts("memory://")
    shared.agent("setup").write(DOC, START)
    t = {x.name: x for x in shared.tools_for("writer")}
    asyncio.run(t["read_artifact"].run_json({"artifact": DOC}, CancellationToken()))
    shared.agent("peer").write_cas(DOC, lambda old: PEER)
    out = asyncio.run(t["write_artifact"].run_json({"artifact": DOC, "content": MINE},
                                                   CancellationToken()))
    result = json.loads(out)
    _check_packet(result, base=1, current=2)
