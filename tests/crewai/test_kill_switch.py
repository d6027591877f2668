"""``CCS_DISABLE=1`` under real CrewAI (a real ``Crew.kickoff()`` and a real parallel ``Flow``,
scripted LLMs, offline): the artifact tools, ``SharedField`` and ``CoherentMemoryStorage`` become
logged, marked pass-throughs, and the crew loses updates exactly like the plain-dict baseline.
Without the switch, the same crew loses nothing (``test_crew_lost_update.py``)."""

from harness import counter_crew
from test_flow_state import parallel_flow
from test_memory_storage import Gate, memory, two_concurrent_updates

import killswitch_fixtures
from ccs import CoherenceAdapterCore
from ccs.adapters.crewai import CoherentMemoryStorage, SharedField, artifact_tools
from killswitch_fixtures import warned

ROLES = ["researcher", "writer", "editor"]


disabled = killswitch_fixtures.disabled


def test_crew_with_disabled_artifact_tools_loses_updates_like_a_dict(disabled, shared_core):
    shared_core.agent("setup").write("tally", {"n": 0, "log": []})
    crew, llms = counter_crew(ROLES, lambda role: artifact_tools(shared_core, role))
    assert warned(disabled, "CrewAI artifact_tools")
    crew.kickoff()
    final = shared_core.agent("auditor").read("tally")
    assert final["n"] == 1 and len(final["log"]) == 1  # three increments, one survives
    outcomes = [o for llm in llms.values() for o in llm.transcript if o and "ok" in o]
    assert outcomes and all(o["ok"] for o in outcomes)  # nobody was told


def test_flow_shared_field_writes_blind_while_disabled(disabled, shared_core):
    field = SharedField(shared_core, "flow/n", initial=0)
    assert field.coherence_disabled is True and warned(disabled, "CrewAI SharedField")

    def checked(flow, name, barrier):
        snap = field.read(agent=name)
        barrier.wait(timeout=20)
        field.write(snap.value + 1, based_on=snap, agent=name)  # no StaleView while disabled

    parallel_flow(checked).kickoff()
    assert field.get() == 1


def test_memory_storage_update_race_loses_a_change_while_disabled(disabled):
    storage = CoherentMemoryStorage(CoherenceAdapterCore("memory://"))
    assert storage.coherence_disabled is True and warned(disabled, "CrewAI CoherentMemoryStorage")
    mem = memory(Gate(storage))
    rid = mem.remember("the plan is A", scope="/team", categories=["plan"], importance=0.5).id
    assert two_concurrent_updates(mem, rid) == []  # nothing refused
    final = storage.get_record(rid)
    assert not (final.content == "the plan is B" and "urgent" in final.categories), final


def test_without_the_switch_the_storage_is_coherent(monkeypatch):
    monkeypatch.delenv("CCS_DISABLE", raising=False)
    assert CoherentMemoryStorage(CoherenceAdapterCore("memory://")).coherence_disabled is False
