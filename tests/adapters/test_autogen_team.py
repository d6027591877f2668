"""The lost update in AutoGen's own shape, and what the adapter does about it.

Real ``AssistantAgent``s in a real ``RoundRobinGroupChat``, driven offline by scripted models
(``ReplayChatCompletionClient``) that call tools: each agent reads ``plan.md``, lets the other
turns happen, then writes back what it read plus its own line. Over a plain dict (what a team
shares today) the last writer wins and earlier lines vanish; over ``SharedArtifacts`` every write
lands or is refused with a JSON result, and the model recovers, so every line is there.
"""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("autogen_agentchat")
pytest.importorskip("autogen_ext.models.replay")

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.tools import FunctionTool
from autogen_script import model, read_then_write, tool_results

from ccs.adapters import CoherenceAdapterCore
from ccs.adapters.autogen import SharedArtifacts

BASE = "# plan\n"
LINES = {"alice": "- alice: intro\n", "bob": "- bob: tests\n", "carol": "- carol: deploy\n",
         "dave": "- dave: docs\n"}


def dict_tools(store: dict[str, str]) -> list[FunctionTool]:
    """The baseline: the same tools over a plain shared dict, last write wins."""

    async def read_artifact(artifact: str) -> str:
        """Read a shared artifact."""
        return json.dumps({"ok": True, "artifact": artifact, "content": store.get(artifact)})

    async def write_artifact(artifact: str, content: str, expected_version: int | None = None) -> str:
        """Replace a shared artifact's content."""
        store[artifact] = content
        return json.dumps({"ok": True, "artifact": artifact})

    return [FunctionTool(read_artifact, description="Read a shared artifact."),
            FunctionTool(write_artifact, description="Replace a shared artifact's content.")]


def team(names, tools_for, *, recover="reread", rounds=6, memory_for=None):
    agents = [AssistantAgent(n, model_client=model(*[read_then_write(LINES[n], recover=recover)]
                                                   * (rounds + 1)),
                             tools=tools_for(n),
                             memory=None if memory_for is None else [memory_for(n)])
              for n in names]
    return RoundRobinGroupChat(agents, max_turns=rounds * len(names))


@pytest.mark.parametrize("names", [("alice", "bob"), ("alice", "bob", "carol")])
def test_baseline_dict_tools_lose_writes(names):
    store = {"plan.md": BASE}
    result = asyncio.run(team(names, lambda n: dict_tools(store)).run(task="extend the plan"))
    writes = tool_results(result.messages, "write_artifact")
    assert len(writes) == len(names) and all(w["ok"] for w in writes)  # every write "succeeded"
    final = store["plan.md"]
    assert final == BASE + LINES[names[-1]]                   # ...but only the last one is there
    assert all(LINES[n] not in final for n in names[:-1])


@pytest.mark.parametrize("recover", ["reread", "update"])
@pytest.mark.parametrize("names", [("alice", "bob"), ("alice", "bob", "carol")])
def test_adapter_refuses_stale_writes_and_nothing_is_lost(names, recover):
    shared = SharedArtifacts("memory://", ["plan.md"])
    shared.agent("setup").write("plan.md", BASE)
    result = asyncio.run(team(names, shared.tools_for, recover=recover).run(task="extend the plan"))
    final = shared.agent("check").read("plan.md")
    assert sorted(final.splitlines()[1:]) == sorted(LINES[n].strip() for n in names)
    assert final.startswith(BASE)

    writes = tool_results(result.messages, "write_artifact")
    refusals = [w for w in writes if not w["ok"]]
    # the first writer lands; every other first write was derived from a stale read
    assert [w["agent"] for w in refusals[:len(names) - 1]] == list(names[1:])
    for r in refusals:
        assert r["code"] == "version_conflict" and r["artifact"] == "plan.md"
        assert r["current_version"] >= 2 and r["recover"] and "read_artifact" in r["hint"]
    # every landed write carries a version, one commit per agent after the setup write
    landed = [w for w in tool_results(result.messages) if w["tool"] != "read_artifact" and w["ok"]]
    assert sorted(w["version"] for w in landed) == list(range(2, 2 + len(names)))
    if recover == "update":
        assert {w["tool"] for w in landed[1:]} == {"update_artifact"}


def test_with_memory_too_a_refresh_does_not_let_an_older_read_land():
    """The README's configuration (memory and tools): each agent's memory shows the peer's
    change at the start of its writing turn, and the scripted model ignores it and writes what
    it derived from its older read_artifact. That write is still refused."""
    shared = SharedArtifacts("memory://", ["plan.md"])
    shared.agent("setup").write("plan.md", BASE)
    names = ("alice", "bob", "carol")
    result = asyncio.run(team(names, shared.tools_for, memory_for=shared.memory_for)
                         .run(task="extend the plan"))
    final = shared.agent("check").read("plan.md")
    assert sorted(final.splitlines()[1:]) == sorted(LINES[n].strip() for n in names)
    refusals = [w for w in tool_results(result.messages, "write_artifact") if not w["ok"]]
    assert [r["agent"] for r in refusals[:2]] == ["bob", "carol"]
    # ...and the memory had shown bob alice's line before bob's refused write
    shown = [m for m in result.messages if type(m).__name__ == "MemoryQueryEvent"
             and m.source == "bob"]
    assert shown[1].content[0].metadata["version"] == 2


def test_blind_retry_of_the_same_stale_content_is_refused_again():
    """A model that just resends its refused write does not get it through."""
    shared = SharedArtifacts("memory://", ["plan.md"])
    shared.agent("setup").write("plan.md", BASE)

    async def run():
        read, write, _ = shared.tools_for("bob")
        await read.run_json({"artifact": "plan.md"}, None)
        shared.agent("alice").write_cas("plan.md", lambda old: old + LINES["alice"])
        stale = {"artifact": "plan.md", "content": BASE + LINES["bob"]}
        return [json.loads(await write.run_json(stale, None)) for _ in range(2)]

    first, second = asyncio.run(run())
    assert not first["ok"] and not second["ok"]
    assert second["code"] == "version_conflict" and second["current_version"] == 2
    assert shared.agent("check").read("plan.md") == BASE + LINES["alice"]


def test_two_teams_run_concurrently_on_one_core():
    """Two teams as real asyncio tasks on one loop, over the same artifact: nothing lost."""
    core = CoherenceAdapterCore("memory://")
    shared = SharedArtifacts(core, ["plan.md"])
    shared.agent("setup").write("plan.md", BASE)
    first = team(("alice", "bob"), shared.tools_for, rounds=12)
    second = team(("carol", "dave"), shared.tools_for, rounds=12)

    async def both():
        return await asyncio.gather(first.run(task="plan"), second.run(task="plan"))

    results = asyncio.run(both())
    messages = [m for r in results for m in r.messages]
    landed = [w for w in tool_results(messages, "write_artifact") if w["ok"]]
    final, version = (lambda s: (s.value, s.version))(core.agent("check").snapshot("plan.md"))
    # every landed write is a version, and each agent's line is there exactly once
    assert version == 1 + len(landed) == 5
    assert sorted(final.splitlines()[1:]) == sorted(
        LINES[n].strip() for n in ("alice", "bob", "carol", "dave"))


def test_sqlite_engine_team(tmp_path):
    """The same team over SQLite: engine calls run in worker threads, the fence is SQLite's."""
    shared = SharedArtifacts(f"sqlite:///{tmp_path / 'state.db'}", ["plan.md"])
    assert shared.offload
    try:
        shared.agent("setup").write("plan.md", BASE)
        result = asyncio.run(team(("alice", "bob", "carol"), shared.tools_for).run(task="plan"))
        refused = [w for w in tool_results(result.messages, "write_artifact") if not w["ok"]]
        assert {r["code"] for r in refused} == {"version_conflict"} and len(refused) >= 2
        other = CoherenceAdapterCore(f"sqlite:///{tmp_path / 'state.db'}")  # another "process"
        final = other.agent("check").read("plan.md")
        other.close()
        assert sorted(final.splitlines()[1:]) == sorted(
            LINES[n].strip() for n in ("alice", "bob", "carol"))
    finally:
        shared.close()


def test_two_teams_on_two_cores_over_one_sqlite_file_concurrently(tmp_path):
    """Two teams, each with its own core (as two processes would have), on one SQLite file,
    run as concurrent asyncio tasks with engine calls in worker threads: nothing lost."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first, second = SharedArtifacts(url, ["plan.md"]), SharedArtifacts(url, ["plan.md"])
    try:
        first.agent("setup").write("plan.md", BASE)

        async def both():
            return await asyncio.gather(
                team(("alice", "bob"), first.tools_for, rounds=12).run(task="plan"),
                team(("carol", "dave"), second.tools_for, rounds=12).run(task="plan"))

        results = asyncio.run(both())
        messages = [m for r in results for m in r.messages]
        landed = [w for w in tool_results(messages, "write_artifact") if w["ok"]]
        snap = second.agent("check").read_with_version("plan.md")
        assert snap.version == 1 + len(landed) == 5
        assert sorted(snap.value.splitlines()[1:]) == sorted(
            LINES[n].strip() for n in ("alice", "bob", "carol", "dave"))
    finally:
        first.close()
        second.close()
