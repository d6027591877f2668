"""The headline: real CrewAI agents in a real ``Crew.kickoff()`` (scripted LLMs, offline), each
reading a shared artifact, thinking, and writing back. Over a plain dict the crew loses updates;
over ``artifact_tools`` every write lands or is refused, and the refused agent re-reads,
re-derives and lands: nothing is lost."""

import json
import re

import pytest
from harness import counter_crew, plain_tools

from ccs.adapters.crewai import artifact_tools

ROLES = ["researcher", "writer", "editor"]


def test_baseline_dict_tools_lose_updates():
    store = {"tally": {"n": 0, "log": []}}
    crew, _ = counter_crew(ROLES, lambda role: plain_tools(store))
    crew.kickoff()
    # Every agent read n=0 and wrote n=1: three increments, one survives, nobody was told.
    assert store["tally"]["n"] == 1
    assert len(store["tally"]["log"]) == 1


def test_coherent_tools_lose_nothing(shared_core):
    shared_core.agent("setup").write("tally", {"n": 0, "log": []})
    crew, llms = counter_crew(ROLES, lambda role: artifact_tools(shared_core, role))
    crew.kickoff()
    final = shared_core.agent("auditor").read("tally")
    assert final["n"] == len(ROLES)
    assert sorted(final["log"]) == sorted(ROLES)
    # Exactly one agent's first write landed; the others were refused with a structured result
    # the model acted on (read again, re-derive, write again).
    refusals = [o for llm in llms.values() for o in llm.transcript if o and o.get("ok") is False]
    assert refusals, "the race must have produced refusals"
    for r in refusals:
        assert r["code"] == "stale_view"
        assert r["artifact"] == "tally"
        assert isinstance(r["current_version"], int) and r["current_version"] >= 2
        assert "read_artifact" in r["recover"]
        # the conflict packet: the version it wrote from, who committed since, what changed
        packet = r["conflict_packet"]
        v = r["current_version"]
        assert re.match(rf"WRITE REFUSED \[stale_view\] tally: your write was based on v[1-9]\d*, "
                        rf"the current version is v{v} \(.*v{v} by (?:{'|'.join(ROLES)})\)", packet)
        assert '"log": [' in packet and "Next: read_artifact('tally')" in packet
    first_writes = [llm.transcript[2] for llm in llms.values()]
    assert sum(1 for o in first_writes if o["ok"]) == 1


def test_two_agents_of_one_role_do_not_share_a_view(shared_core):
    """Two CrewAI agents with the same role (one engine agent, one cache) each get a tool set with
    its own view: the second write from the version both read is refused, not applied."""
    shared_core.agent("setup").write("tally", {"n": 0, "log": []})
    crew, _ = counter_crew(["writer", "writer"], lambda role: artifact_tools(shared_core, role))
    crew.kickoff()
    assert shared_core.agent("auditor").read("tally")["n"] == 2


def test_update_artifact_is_one_checked_step(shared_core):
    """``update_artifact`` in the same race: every increment lands with no refusal seen."""
    from harness import CounterAgentLLM

    class UpdateLLM(CounterAgentLLM):
        def call(self, messages, *a, **kw):
            obs = self.transcript[-1] if self.transcript else None
            if self._phase == "start":
                self._phase = "read"
                self.transcript.append(None)
                return self._action("read_artifact", {"artifact_id": self._artifact})
            if self._phase == "read":
                self._barrier.wait(timeout=20)
                self._phase = "wrote"
                self.transcript.append(obs)
                return self._action("update_artifact", {"artifact_id": self._artifact,
                                                        "operation": "increment", "key": "n"})
            from harness import last_observation
            self.transcript.append(last_observation(messages))
            return "Thought: done\nFinal Answer: done"

    import harness
    original = harness.CounterAgentLLM
    harness.CounterAgentLLM = UpdateLLM
    try:
        shared_core.agent("setup").write("tally", {"n": 0, "log": []})
        crew, llms = counter_crew(ROLES, lambda role: artifact_tools(shared_core, role))
        crew.kickoff()
    finally:
        harness.CounterAgentLLM = original
    assert shared_core.agent("auditor").read("tally")["n"] == len(ROLES)
    results = [llm.transcript[-1] for llm in llms.values()]
    assert all(r["ok"] for r in results), results


def test_tools_are_bound_to_each_role(core):
    """Per-agent isolation: one role's read is not another's view. ``writer`` never read the
    artifact, so its write (taken to expect it absent) is refused though ``researcher`` read it."""
    researcher = {t.name: t for t in artifact_tools(core, "researcher")}
    writer = {t.name: t for t in artifact_tools(core, "writer")}
    assert json.loads(researcher["write_artifact"].run(artifact_id="plan.md", content="v1"))["ok"]
    assert json.loads(researcher["read_artifact"].run(artifact_id="plan.md"))["version"] == 1
    out = json.loads(writer["write_artifact"].run(artifact_id="plan.md", content="mine"))
    assert out["ok"] is False and out["code"] == "stale_view" and out["current_version"] == 1
    assert json.loads(writer["read_artifact"].run(artifact_id="plan.md"))["content"] == "v1"
    assert json.loads(writer["write_artifact"].run(artifact_id="plan.md", content="v2"))["ok"]
    # researcher's copy is now stale: its write derived from v1 is refused, not applied.
    out = json.loads(researcher["write_artifact"].run(artifact_id="plan.md", content="v1+x"))
    assert out == {**out, "ok": False, "code": "stale_view", "current_version": 2}
    assert core.agent("auditor").read("plan.md") == "v2"
    assert core.agent("researcher").name == "researcher"


@pytest.mark.parametrize("op,start,args,expected", [
    ("append", "a", {"value": "b"}, "ab"),
    ("append", ["x"], {"value": "y"}, ["x", "y"]),
    ("increment", {"n": 1}, {"key": "n", "value": 2}, {"n": 3}),
    ("set", {"n": 1}, {"key": "m", "value": 5}, {"n": 1, "m": 5}),
    ("merge", {"a": 1}, {"value": {"b": 2}}, {"a": 1, "b": 2}),
])
def test_update_artifact_operations(core, op, start, args, expected):
    core.agent("setup").write("x", start)
    update = artifact_tools(core, "worker")[2]
    out = json.loads(update.run(artifact_id="x", operation=op, **args))
    assert out["ok"] and out["content"] == expected and out["version"] == 2


def test_bad_update_is_a_structured_refusal(core):
    core.agent("setup").write("x", "text")
    out = json.loads(artifact_tools(core, "w")[2].run(artifact_id="x", operation="increment"))
    assert out["ok"] is False and out["code"] == "invalid_argument"
    read = json.loads(artifact_tools(core, "w")[0].run(artifact_id="nope"))
    assert read["ok"] is False and read["code"] == "unknown_artifact"
