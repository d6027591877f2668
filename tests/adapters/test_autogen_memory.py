"""``CoherentMemory``: what each agent's prompt carries, checked writes through ``add``, private
entries kept per agent, the MemoryContent mapping, and engine calls kept off the event loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest

pytest.importorskip("autogen_agentchat")
pytest.importorskip("autogen_ext.models.replay")

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.teams import RoundRobinGroupChat
from autogen_core.memory import ListMemory, Memory, MemoryContent
from autogen_core.model_context import BufferedChatCompletionContext, UnboundedChatCompletionContext
from autogen_script import call, model, say

from ccs import VersionConflict
from ccs.adapters import CoherenceAdapterCore
from ccs.adapters.autogen import CoherentMemory, SharedArtifacts
from ccs.tokens import CharCounter

PLAN = "# plan\n" + "".join(f"- step {i}: do the thing number {i}\n" for i in range(30))


def shared_with_plan(*artifacts: str) -> SharedArtifacts:
    shared = SharedArtifacts("memory://", artifacts or ["plan.md"])
    shared.agent("setup").write("plan.md", PLAN)
    return shared


def system_texts(context) -> list[str]:
    msgs = asyncio.run(context.get_messages())
    return [m.content for m in msgs if type(m).__name__ == "SystemMessage"]


def test_is_a_memory_and_replaces_list_memory_in_one_line():
    shared = shared_with_plan()
    assert isinstance(shared.memory_for("writer"), Memory)
    before = AssistantAgent("writer", model_client=model(say("ok")), memory=[ListMemory()])
    after = AssistantAgent("writer", model_client=model(say("ok")),
                           memory=[shared.memory_for("writer")])
    assert type(before).__name__ == type(after).__name__


def test_update_context_sends_content_then_reference_then_diff():
    shared = shared_with_plan()
    memory = CoherentMemory(shared, "writer", counter=CharCounter())
    context = UnboundedChatCompletionContext()

    async def turns():
        first = await memory.update_context(context)
        second = await memory.update_context(context)
        shared.agent("reviewer").write_cas("plan.md", lambda p: p.replace("step 7:", "step 7 (done):"))
        third = await memory.update_context(context)
        return first, second, third

    first, second, third = asyncio.run(turns())
    kinds = [r.memories.results[0].metadata["rendered"] for r in (first, second, third)]
    assert kinds == ["content", "reference", "diff"]
    texts = system_texts(context)
    assert len(texts) == 3
    assert PLAN in texts[0] and 'version="v1"' in texts[0]
    assert "[plan.md v1 unchanged]" in texts[1] and PLAN not in texts[1]
    assert "+- step 7 (done): do the thing number 7" in texts[2] and len(texts[2]) < len(PLAN) / 2
    # the result carries the current content, whatever the prompt got
    assert third.memories.results[0].content == PLAN.replace("step 7:", "step 7 (done):")
    assert third.memories.results[0].metadata["version"] == 2


def test_a_context_that_dropped_the_injection_gets_the_content_again():
    shared = shared_with_plan()
    memory = shared.memory_for("writer")
    context = BufferedChatCompletionContext(buffer_size=2)

    async def turns():
        from autogen_core.models import UserMessage
        await memory.update_context(context)
        for i in range(3):  # the buffer keeps the last two: the injection falls out
            await context.add_message(UserMessage(content=f"m{i}", source="user"))
        return await memory.update_context(context)

    again = asyncio.run(turns())
    assert again.memories.results[0].metadata["rendered"] == "content"
    assert PLAN in system_texts(context)[-1]


def test_model_in_a_team_sees_the_peers_change_as_a_diff():
    shared = shared_with_plan()
    writer_model = model(say("noted"), say("noted again"))
    reviewer_model = model(call("update_artifact", artifact="plan.md", operation="replace",
                                find="- step 3:", text="- step 3 (reviewed):"))
    writer = AssistantAgent("writer", model_client=writer_model,
                            memory=[shared.memory_for("writer")], tools=shared.tools_for("writer"))
    reviewer = AssistantAgent("reviewer", model_client=reviewer_model,
                              tools=shared.tools_for("reviewer"))
    asyncio.run(RoundRobinGroupChat([writer, reviewer], max_turns=3).run(task="go"))
    seen = [[m.content for m in c["messages"] if type(m).__name__ == "SystemMessage"
             and "Shared artifacts" in m.content] for c in writer_model.create_calls]
    first, second = seen[0][-1], seen[1][-1]
    assert PLAN in first
    assert "<artifact-diff" in second and "+- step 3 (reviewed):" in second and PLAN not in second


def test_add_to_an_artifact_is_a_checked_write():
    shared = shared_with_plan()
    memory = shared.memory_for("writer")
    context = UnboundedChatCompletionContext()

    async def run():
        await memory.update_context(context)                      # the writer is shown v1
        shared.agent("reviewer").write_cas("plan.md", lambda p: p + "- reviewer\n")   # v2
        with pytest.raises(VersionConflict) as err:
            await memory.add(MemoryContent(content=PLAN + "- writer\n", mime_type="text/markdown",
                                           metadata={"artifact": "plan.md"}))
        assert err.value.current_version == 2
        with pytest.raises(VersionConflict):
            await memory.add(MemoryContent(content="x", mime_type="text/plain",
                                           metadata={"artifact": "plan.md", "expected_version": 1}))
        await memory.update_context(context)                      # shown v2: now it may write
        await memory.add(MemoryContent(content=PLAN + "- reviewer\n- writer\n",
                                       mime_type="text/markdown", metadata={"artifact": "plan.md"}))

    asyncio.run(run())
    assert shared.agent("check").read("plan.md") == PLAN + "- reviewer\n- writer\n"


def test_private_entries_are_per_agent_and_clear_leaves_shared_artifacts():
    shared = shared_with_plan()
    writer, reviewer = shared.memory_for("writer"), shared.memory_for("reviewer")

    async def run():
        await writer.add(MemoryContent(content="prefers short steps", mime_type="text/plain"))
        await writer.add(MemoryContent(content={"tone": "formal"}, mime_type="application/json"))
        mine = (await writer.query("")).results
        theirs = (await reviewer.query("")).results
        context = UnboundedChatCompletionContext()
        await reviewer.update_context(context)
        reviewer_prompt = (await context.get_messages())[-1].content
        await writer.clear()
        return mine, theirs, reviewer_prompt, (await writer.query("")).results

    mine, theirs, reviewer_prompt, after_clear = asyncio.run(run())
    assert [m.content for m in mine[1:]] == ["prefers short steps", {"tone": "formal"}]
    assert [m.metadata["artifact"] for m in theirs] == ["plan.md"]     # only the shared artifact
    assert "prefers short steps" not in reviewer_prompt
    assert [m.metadata["artifact"] for m in after_clear] == ["plan.md"]
    assert shared.agent("check").read("plan.md") == PLAN
    with pytest.raises(Exception, match="private"):
        asyncio.run(reviewer.add(MemoryContent(content="x", mime_type="text/plain",
                                               metadata={"artifact": "autogen/private/writer"})))
    read, _, _ = reviewer.tools()
    leaked = json.loads(asyncio.run(read.run_json({"artifact": "autogen/private/writer"}, None)))
    assert not leaked["ok"] and leaked["code"] == "invalid_argument"


def test_memory_content_mapping():
    shared = SharedArtifacts("memory://", ["a.md", "b.txt", "c.json", "d.json", "e.bin"])
    setup = shared.agent("setup")
    setup.write("a.md", "# A")
    setup.write("b.txt", "plain")
    setup.write("c.json", {"k": [1, 2]})
    setup.write("d.json", [1, 2])
    setup.write("e.bin", b"\x00\x01")
    results = asyncio.run(shared.memory_for("r").query("")).results
    got = [(r.metadata["artifact"], r.mime_type, r.content) for r in results]
    assert got == [("a.md", "text/markdown", "# A"), ("b.txt", "text/plain", "plain"),
                   ("c.json", "application/json", {"k": [1, 2]}),
                   ("d.json", "application/json", "[1, 2]"),
                   ("e.bin", "application/octet-stream", b"\x00\x01")]
    assert [r.metadata["artifact"] for r in
            asyncio.run(shared.memory_for("r").query("c.json")).results] == ["c.json"]
    # add maps back: JSON text is stored as the value, binary as bytes
    memory = shared.memory_for("w")
    asyncio.run(memory.add(MemoryContent(content='{"x": 1}', mime_type="application/json",
                                         metadata={"artifact": "new.json"})))
    asyncio.run(memory.add(MemoryContent(content=b"\xff", mime_type="application/octet-stream",
                                         metadata={"artifact": "new.bin"})))
    assert shared.agent("check").read("new.json") == {"x": 1}
    assert shared.agent("check").read("new.bin") == b"\xff"


def test_blocking_engines_run_off_the_event_loop(tmp_path):
    loop_thread = threading.current_thread()
    memory = SharedArtifacts("memory://")
    sqlite = SharedArtifacts(f"sqlite:///{tmp_path / 's.db'}")
    try:
        on_memory = asyncio.run(memory.call("a", lambda a: threading.current_thread()))
        on_sqlite = asyncio.run(sqlite.call("a", lambda a: threading.current_thread()))
    finally:
        sqlite.close()
    assert on_memory is loop_thread          # a dict behind a lock: inline
    assert on_sqlite is not loop_thread      # may wait on a lock: a worker thread
    core = CoherenceAdapterCore("memory://")
    assert SharedArtifacts(core, offload=True).offload


def test_importing_ccs_adapters_does_not_import_autogen():
    code = ("import sys, ccs.adapters, ccs.adapters.autogen as a; a.SharedArtifacts('memory://');"
            "assert not any(m.startswith('autogen') for m in sys.modules), "
            "[m for m in sys.modules if m.startswith('autogen')]")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_component_config_round_trip(tmp_path):
    url = f"sqlite:///{tmp_path / 'team.db'}"
    shared = SharedArtifacts(url, ["plan.md"])
    try:
        shared.agent("setup").write("plan.md", PLAN)
        dumped = shared.memory_for("writer").dump_component()
        assert dumped.config["engine"] == url and dumped.config["agent"] == "writer"
        loaded = Memory.load_component(dumped)
        assert isinstance(loaded, CoherentMemory) and loaded.agent_name == "writer"
        results = asyncio.run(loaded.query("plan.md")).results
        assert results[0].content == PLAN
        asyncio.run(loaded.close())
    finally:
        shared.close()
    with pytest.raises(Exception, match="password"):
        from ccs.adapters.autogen.memory import CoherentMemory as CM
        memory = CM(shared_with_plan(), "w")
        memory.shared.core.coordinator.backend.url = "postgresql://u:secret@h/db"
        memory.dump_component()
