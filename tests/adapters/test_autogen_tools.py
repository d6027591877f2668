"""The artifact tools as a model sees them: JSON results, never exceptions; update_artifact's
bounded retry; explicit expected_version; the operations."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("autogen_core")

from autogen_core import CancellationToken
from autogen_core.tools import FunctionTool

from ccs import failpoints
from ccs.adapters.autogen import CoherentMemory, SharedArtifacts


def run(tool: FunctionTool, **args) -> dict:
    return json.loads(asyncio.run(tool.run_json(args, CancellationToken())))


def tools(shared: SharedArtifacts, agent: str) -> dict[str, FunctionTool]:
    return {t.name: t for t in shared.tools_for(agent)}


def peer_writes(shared: SharedArtifacts, times: int):
    """Arm: before each of bob's commits, alice commits an edit of her own (``times`` times)."""
    count = [0]

    def interfere(agent, artifact, **_):
        if agent.name == "bob" and count[0] < times:
            count[0] += 1
            shared.agent("alice").write_cas(artifact, lambda old: old + f"- alice {count[0]}\n")

    return failpoints.arm("client.before_commit", interfere), count


def test_tool_schemas_are_what_a_model_needs():
    shared = SharedArtifacts("memory://")
    t = tools(shared, "bob")
    assert set(t) == {"read_artifact", "write_artifact", "update_artifact"}
    update = t["update_artifact"].schema["parameters"]
    assert update["required"] == ["artifact", "operation", "text"]
    assert set(update["properties"]["operation"]["enum"]) == {"append", "prepend", "replace", "merge"}
    assert "expected_version" in t["write_artifact"].schema["parameters"]["properties"]


def test_update_artifact_retries_until_it_lands_on_the_current_version():
    shared = SharedArtifacts("memory://", retries=8)
    shared.agent("setup").write("plan.md", "# plan\n")
    armed, count = peer_writes(shared, times=3)
    with armed:
        result = run(tools(shared, "bob")["update_artifact"], artifact="plan.md",
                     operation="append", text="- bob\n")
    assert result["ok"] and count[0] == 3 and result["version"] == 5
    assert shared.agent("check").read("plan.md") == \
        "# plan\n- alice 1\n- alice 2\n- alice 3\n- bob\n"


def test_update_artifact_gives_up_after_its_bound_with_a_structured_result():
    shared = SharedArtifacts("memory://", retries=1)
    shared.agent("setup").write("plan.md", "# plan\n")
    armed, _ = peer_writes(shared, times=100)
    with armed:
        result = run(tools(shared, "bob")["update_artifact"], artifact="plan.md",
                     operation="append", text="- bob\n")
    assert not result["ok"] and result["code"] == "cas_retries_exhausted"
    assert result["artifact"] == "plan.md" and result["current_version"] == 3
    assert "- bob" not in shared.agent("check").read("plan.md")


def test_write_with_expected_version_is_compare_and_set():
    shared = SharedArtifacts("memory://")
    shared.agent("setup").write("notes.txt", "a")
    t = tools(shared, "bob")
    stale = run(t["write_artifact"], artifact="notes.txt", content="b", expected_version=0)
    assert not stale["ok"] and stale["code"] == "version_conflict" and stale["current_version"] == 1
    landed = run(t["write_artifact"], artifact="notes.txt", content="b", expected_version=1)
    assert landed == {"ok": True, "artifact": "notes.txt", "version": 2}


def test_a_never_read_artifact_is_created_and_a_second_creator_is_refused():
    shared = SharedArtifacts("memory://")
    assert run(tools(shared, "a")["write_artifact"], artifact="new.md", content="x")["ok"]
    second = run(tools(shared, "b")["write_artifact"], artifact="new.md", content="y")
    assert not second["ok"] and second["code"] == "version_conflict"


def test_operations():
    shared = SharedArtifacts("memory://")
    setup = shared.agent("setup")
    setup.write("plan.md", "one two one")
    setup.write("state.json", {"a": 1})
    setup.write("items.json", [1])
    t = tools(shared, "bob")
    update = t["update_artifact"]
    assert run(update, artifact="plan.md", operation="replace", find="one", text="1")["ok"]
    assert run(update, artifact="plan.md", operation="prepend", text="> ")["ok"]
    missing = run(update, artifact="plan.md", operation="replace", find="zzz", text="q")
    assert not missing["ok"] and missing["code"] == "invalid_argument" and "zzz" in missing["message"]
    assert run(update, artifact="state.json", operation="merge", text='{"b": 2}')["ok"]
    assert run(update, artifact="items.json", operation="append", text='{"x": 1}')["ok"]
    bad = run(update, artifact="state.json", operation="append", text="x")
    assert not bad["ok"] and bad["code"] == "invalid_argument"
    check = shared.agent("check")
    assert check.read("plan.md") == "> 1 two one"
    assert check.read("state.json") == {"a": 1, "b": 2}
    assert check.read("items.json") == [1, {"x": 1}]
    # a JSON artifact takes JSON text through write_artifact, and refuses other text
    run(t["read_artifact"], artifact="state.json")
    assert run(t["write_artifact"], artifact="state.json", content='{"c": 3}')["ok"]
    assert check.read("state.json") == {"c": 3}
    assert run(t["write_artifact"], artifact="state.json", content="nope")["code"] == \
        "invalid_argument"
    absent = run(t["read_artifact"], artifact="nothing.md")
    assert absent["ok"] and absent["exists"] is False and absent["content"] is None


def test_memory_tools_act_as_its_agent_unless_overridden():
    shared = SharedArtifacts("memory://")
    memory = CoherentMemory(shared, "writer")
    write = {t.name: t for t in memory.tools()}["write_artifact"]
    run(write, artifact="a.md", content="x")
    other = {t.name: t for t in memory.tools(agent="editor")}["read_artifact"]
    run(other, artifact="a.md")
    assert shared.agent("writer").cached_version("a.md") == 1
    assert shared.agent("editor").cached_version("a.md") == 1
    assert "editor" in shared.core.agents and "writer" in shared.core.agents
