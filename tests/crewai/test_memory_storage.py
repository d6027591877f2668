"""``CoherentMemoryStorage`` under CrewAI's ``Memory``: its read-modify-writes (``Memory.update``;
consolidation: search -> decide -> update) are checked against the version read. CrewAI's own
default storage (LanceDB) is the baseline: the same races lose a change there, silently."""

import json
import re
import threading
from typing import ClassVar

import pytest
from crewai.agent import Agent
from crewai.crew import Crew
from crewai.memory import Memory
from crewai.memory.storage.backend import StorageBackend
from crewai.memory.storage.lancedb_storage import LanceDBStorage
from crewai.memory.types import MemoryRecord
from crewai.task import Task
from harness import FinalLLM, embed

from ccs import StaleView
from ccs.adapters.crewai import CoherentMemory, CoherentMemoryStorage, acting_as, install, uninstall


def memory(storage, **kw):
    return Memory(storage=storage, llm=FinalLLM(model="scripted"), embedder=embed, **kw)


class Gate:
    """Holds the first ``parties`` ``get_record`` callers until all have read: the window in which
    an agent thinks (or an embedder answers) between its read and its write, made deterministic."""

    def __init__(self, inner, parties=2):
        self._inner, self._barrier, self._left = inner, threading.Barrier(parties), parties
        self._lock = threading.Lock()

    def get_record(self, record_id):
        record = self._inner.get_record(record_id)
        with self._lock:
            wait, self._left = self._left > 0, self._left - 1
        if wait:
            self._barrier.wait(timeout=20)
        return record

    def __getattr__(self, name):
        return getattr(self._inner, name)


def two_concurrent_updates(mem, record_id):
    """Two agents change different fields of one record at the same time; a refused update is
    retried the way its error says (read again, re-apply)."""
    refused, errors = [], []

    def run(**changes):
        try:
            for _ in range(5):
                try:
                    return mem.update(record_id, **changes)
                except StaleView as err:
                    refused.append(err)
        except Exception as err:  # pragma: no cover - surfaced below
            errors.append(err)

    threads = [threading.Thread(target=run, kwargs={"content": "the plan is B"}),
               threading.Thread(target=run, kwargs={"categories": ["plan", "urgent"]})]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    return refused


def test_baseline_lancedb_loses_one_of_two_updates(tmp_path):
    inner = LanceDBStorage(path=str(tmp_path / "lance"))
    mem = memory(Gate(inner))
    rid = mem.remember("the plan is A", scope="/team", categories=["plan"], importance=0.5).id
    two_concurrent_updates(mem, rid)
    final = inner.get_record(rid)
    assert not (final.content == "the plan is B" and "urgent" in final.categories), final


def test_memory_update_race_refused_and_recovered(shared_core):
    storage = CoherentMemoryStorage(shared_core)
    mem = memory(Gate(storage))
    rid = mem.remember("the plan is A", scope="/team", categories=["plan"], importance=0.5).id
    refused = two_concurrent_updates(mem, rid)
    final = storage.get_record(rid)
    assert final.content == "the plan is B" and "urgent" in final.categories  # both changes
    assert len(refused) == 1
    err = refused[0]
    assert err.code == "stale_view" and err.current_version == 2
    assert err.artifact == f"crewai/memory/{rid}" and "get_record" in err.recover
    assert final.metadata["ccs_version"] == 3


def consolidate(storage, query, new_content):
    """What CrewAI's consolidation does (encoding_flow.execute_plans): search for similar
    records, let the LLM decide, then write a record rebuilt from the one found."""
    existing = storage.search(embed([query])[0], scope_prefix="/team", limit=1)[0][0]
    return MemoryRecord(id=existing.id, content=new_content, scope=existing.scope,
                        categories=existing.categories, metadata=existing.metadata,
                        importance=existing.importance, created_at=existing.created_at,
                        embedding=embed([new_content])[0])


@pytest.mark.parametrize("backend", ["lancedb", "coherent"])
def test_consolidation_race(backend, shared_core, tmp_path):
    storage = (LanceDBStorage(path=str(tmp_path / "lance")) if backend == "lancedb"
               else CoherentMemoryStorage(shared_core))
    mem = memory(storage)
    mem.remember("deadline is friday", scope="/team", categories=["plan"], importance=0.5)
    a = consolidate(storage, "deadline is friday", "deadline is friday; QA on thursday")
    b = consolidate(storage, "deadline is friday", "deadline is friday; demo on monday")
    storage.update(a)
    if backend == "lancedb":
        storage.update(b)  # lands on top of a: "QA on thursday" is gone, nothing said so
        assert "QA" not in storage.get_record(a.id).content
        return
    with pytest.raises(StaleView) as exc:
        storage.update(b)
    assert exc.value.current_version == 2
    assert "QA" in storage.get_record(a.id).content  # a's consolidation stands
    c = consolidate(storage, "deadline is friday; QA on thursday",
                    "deadline is friday; QA on thursday; demo on monday")
    storage.update(c)
    assert storage.get_record(a.id).content.endswith("demo on monday")


def test_delete_by_id_checked_against_the_view(shared_core):
    storage = CoherentMemoryStorage(shared_core)
    mem = memory(storage)
    rid = mem.remember("old fact", scope="/team", categories=["x"], importance=0.5).id
    alice, bob = storage.for_agent("alice"), storage.for_agent("bob")
    assert alice.get_record(rid).content == "old fact"   # alice's view: v1
    rec = bob.get_record(rid)
    bob.update(rec.model_copy(update={"content": "corrected fact"}))  # v2
    with pytest.raises(StaleView):
        alice.delete(record_ids=[rid])                   # decided on v1: refused
    assert storage.get_record(rid).content == "corrected fact"
    alice.get_record(rid)
    assert alice.delete(record_ids=[rid]) == 1 and storage.count() == 0


def test_storage_api_matches_crewai_semantics(core):
    storage = CoherentMemoryStorage(core)
    assert isinstance(storage, StorageBackend)
    mem = memory(storage)
    a = mem.remember("the plan is A", scope="/team", categories=["plan"], importance=0.7)
    mem.remember("budget is 10k", scope="/team/agent/writer", categories=["money"], importance=0.4)
    mem.remember("unrelated", scope="/other", categories=["misc"], importance=0.1)
    matches = mem.recall("the plan is A", scope="/team", limit=5, depth="shallow")
    assert matches[0].record.content == "the plan is A"
    assert {m.record.content for m in matches} == {"the plan is A", "budget is 10k"}
    assert storage.list_scopes("/") == ["/other", "/team"]
    assert storage.list_scopes("/team") == ["/team/agent"]
    info = storage.get_scope_info("/team")
    assert info.record_count == 2 and info.categories == ["money", "plan"]
    assert info.child_scopes == ["/team/agent"]
    assert storage.list_categories("/team") == {"plan": 1, "money": 1}
    assert storage.count() == 3 and storage.count("/team") == 2
    assert [r.content for r in storage.list_records(limit=2)] == ["unrelated", "budget is 10k"]
    hits = storage.search(embed(["x"])[0], categories=["money"], limit=10)
    assert [r.content for r, _ in hits] == ["budget is 10k"]
    assert storage.search(embed(["the plan is A"])[0], min_score=0.999)[0][0].id == a.id
    assert storage.delete(scope_prefix="/team/agent") == 1
    storage.reset("/team")
    assert storage.count() == 1
    storage.reset()
    assert storage.count() == 0


def commits_by_agent(core):
    """``{record id: agent name}`` of every commit from now on, as the coordinator saw it."""
    seen = {}

    def spy(op):
        def wrapped(agent, artifact, *args, **kw):
            seen[artifact.rsplit("/", 1)[1]] = agent.split("@")[0]
            return op(agent, artifact, *args, **kw)
        return wrapped

    for name in ("write", "commit_cas"):
        setattr(core.coordinator, name, spy(getattr(core.coordinator, name)))
    return seen


def test_identity_from_scope_override_and_agent_role(core):
    storage = CoherentMemoryStorage(core)
    seen = commits_by_agent(core)

    def committer(record_id):
        return seen[record_id]

    r1 = MemoryRecord(content="x", scope="/crew/demo/agent/writer", embedding=[1.0, 0.0])
    storage.save([r1])
    assert committer(r1.id) == "writer"
    r2 = MemoryRecord(content="y", scope="/crew/demo/agent/writer", embedding=[1.0, 0.0])
    with acting_as("editor"):
        storage.save([r2])
    assert committer(r2.id) == "editor"
    r3 = MemoryRecord(content="z", scope="/crew/demo/agent/writer", embedding=[1.0, 0.0])
    storage.for_agent("boss").save([r3])
    assert committer(r3.id) == "boss"
    mem = CoherentMemory(storage=storage, llm=FinalLLM(model="scripted"), embedder=embed)
    mem.remember_many(["reviewed the draft"], scope="/notes", agent_role="reviewer")
    mem.drain_writes()
    (saved,) = storage.list_records("/notes")
    assert committer(saved.id) == "reviewer"
    mem.remember("plain fact", scope="/facts")
    assert committer(storage.list_records("/facts")[0].id) == "crew"


def test_install_routes_a_crew_memory_with_no_agent_change(core):
    """One line (``install(core)``) and a crew's memory lives in the core, per-agent scopes
    attributed to their agents."""
    seen = commits_by_agent(core)
    install(core)
    try:
        mem = Memory(llm=FinalLLM(model="scripted"), embedder=embed, root_scope="/crew/demo")
        assert isinstance(mem._storage, CoherentMemoryStorage)
        agents = [Agent(role=r, goal="g", backstory="b", llm=FinalLLM(model="scripted"),
                        verbose=False) for r in ("researcher", "writer")]
        tasks = [Task(description=f"task of {a.role}", expected_output="text", agent=a)
                 for a in agents]
        Crew(agents=agents, tasks=tasks, memory=mem, verbose=False).kickoff()
        mem.drain_writes()
    finally:
        uninstall()
    records = CoherentMemoryStorage(core).list_records("/crew/demo")
    scopes = {r.scope.split("/agent/")[1].split("/")[0] for r in records}
    assert scopes == {"researcher", "writer"}
    assert {seen[r.id] for r in records} == {"researcher", "writer"}
    assert all(seen[r.id] in r.scope for r in records)


class ConsolidatingLLM(FinalLLM):
    """Memory's analysis LLM during ``remember``: shown the similar record, it plans to fold its
    own addition into it (``update``, no new record). The first call of each waits until both
    agents' calls have been made: both decided on the record as it was."""

    name: str = ""
    STATE: ClassVar[dict] = {}

    def call(self, messages, *args, **kw):
        state = self.STATE[self.name]
        prompt = messages[-1]["content"]
        rid, content = re.search(r"- id=(\S+) \|.*\n  content: (.*)", prompt).groups()
        state["calls"] += 1
        if state["calls"] == 1:
            state["barrier"].wait(timeout=20)
        plan = {"actions": [{"action": "update", "record_id": rid,
                             "new_content": f"{content}; {state['addition']}"}],
                "insert_new": False}
        return json.dumps(plan)


@pytest.mark.parametrize("backend", ["lancedb", "coherent"])
def test_native_consolidation_race(backend, shared_core, tmp_path):
    """Two agents ``remember`` related facts at once; CrewAI's consolidation rewrites the similar
    record with each. On LanceDB one rewrite silently replaces the other; coherent storage refuses
    the stale one (``StaleView`` from ``remember``) and remembering again folds both in."""
    if backend == "lancedb":
        shared = LanceDBStorage(path=str(tmp_path / "lance"))
        storages = {"a": shared, "b": shared}
    else:
        shared = CoherentMemoryStorage(shared_core)
        storages = {"a": shared.for_agent("planner"), "b": shared.for_agent("tester")}
    barrier = threading.Barrier(2)
    ConsolidatingLLM.STATE.update({
        "a": {"calls": 0, "barrier": barrier, "addition": "QA on thursday"},
        "b": {"calls": 0, "barrier": barrier, "addition": "demo on monday"}})
    fields = {"scope": "/team", "categories": ["plan"], "importance": 0.5}
    memory(shared).remember("deadline is friday", **fields)
    mems = {n: Memory(storage=storages[n], llm=ConsolidatingLLM(model="scripted", name=n),
                      embedder=embed, consolidation_threshold=0.1) for n in storages}
    refused = []

    def remember(name):
        for _ in range(3):
            try:
                return mems[name].remember(f"new: {name}", **fields)
            except StaleView as err:
                refused.append(err)

    threads = [threading.Thread(target=remember, args=(n,)) for n in mems]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    (record,) = shared.list_records("/team")
    if backend == "lancedb":
        assert not ("QA on thursday" in record.content and "demo on monday" in record.content)
        return
    assert "QA on thursday" in record.content and "demo on monday" in record.content
    assert len(refused) == 1 and refused[0].code == "stale_view"
