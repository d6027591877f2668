"""``CoherentSession``: a transcript shared by runs. The hazards of a shared ``SQLiteSession`` are
the operations derived from a read of the history (pop, clear-and-summarize, answering from a
history that missed a peer's turn); each is shown on ``SQLiteSession`` and refused or detected
here."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("agents")

from agents import Agent, Runner, SQLiteSession, set_tracing_disabled

from ccs import CoherenceAdapterCore, StaleView, failpoints
from ccs.adapters.openai_agents import CoherentSession
from ccs.adapters.openai_agents.testing import ScriptedModel, say
from ccs.client.agent import Agent as CcsAgent

set_tracing_disabled(True)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def texts(items: list) -> list[str]:
    return [i["content"] if isinstance(i.get("content"), str) else i["content"][0]["text"]
            for i in items]


def sqlite_pair(tmp_path):
    db = tmp_path / "chat.db"
    return SQLiteSession("team", db), SQLiteSession("team", db)


def coherent_pair():
    core = CoherenceAdapterCore()
    return CoherentSession("team", core=core), CoherentSession("team", core=core)


async def undo_race(a, b):
    """A adds its turn, B adds one, A undoes "its" last turn with pop_item."""
    await a.add_items([user("A: what is 2+2?")])
    await a.get_items()
    await b.add_items([user("B: deploy now")])
    return await a.pop_item()


async def summarize_race(a, b):
    """A reads the history and summarizes it; meanwhile B adds; A replaces history by the summary."""
    await a.add_items([user("old 1"), user("old 2")])
    history = await a.get_items()
    await b.add_items([user("B: new and important")])
    await a.clear_session()
    await a.add_items([user(f"summary of {len(history)} items")])


def test_sqlite_session_pop_takes_the_other_runs_item(tmp_path):
    a, b = sqlite_pair(tmp_path)
    popped = asyncio.run(undo_race(a, b))
    assert popped["content"] == "B: deploy now"  # B's turn is gone, A's mistake stays
    assert texts(asyncio.run(b.get_items())) == ["A: what is 2+2?"]


def test_coherent_session_refuses_the_pop_and_keeps_both():
    a, b = coherent_pair()
    with pytest.raises(StaleView) as exc:
        asyncio.run(undo_race(a, b))
    assert exc.value.current_version == 2 and exc.value.artifact == a.artifact
    assert texts(asyncio.run(b.get_items())) == ["A: what is 2+2?", "B: deploy now"]
    # after reading the current history the caller may pop (now knowingly)
    async def reread_and_pop():
        await a.get_items()
        return await a.pop_item()
    assert asyncio.run(reread_and_pop())["content"] == "B: deploy now"


def test_sqlite_session_clear_destroys_the_item_added_after_the_read(tmp_path):
    a, b = sqlite_pair(tmp_path)
    asyncio.run(summarize_race(a, b))
    assert texts(asyncio.run(b.get_items())) == ["summary of 2 items"]


def test_coherent_session_refuses_the_clear():
    a, b = coherent_pair()
    with pytest.raises(StaleView):
        asyncio.run(summarize_race(a, b))
    assert "B: new and important" in texts(asyncio.run(b.get_items()))


def test_blind_clear_is_explicit():
    a, b = coherent_pair()
    asyncio.run(b.add_items([user("x")]))
    asyncio.run(a.clear_session(blind=True))
    assert asyncio.run(b.get_items()) == []


def test_concurrent_appends_all_land():
    core = CoherenceAdapterCore()
    sessions = [CoherentSession("team", core=core, agent=f"s{i}") for i in range(4)]

    async def go():
        await asyncio.gather(*(s.add_items([user(f"{i}-{k}")]) for k in range(10)
                               for i, s in enumerate(sessions)))
        return await sessions[0].get_items()

    items = asyncio.run(go())
    assert sorted(texts(items)) == sorted(f"{i}-{k}" for i in range(4) for k in range(10))


def test_sqlite_engine_two_cores_appends_all_land(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    cores = [CoherenceAdapterCore(engine=url) for _ in range(2)]
    sessions = [CoherentSession("team", core=c) for c in cores]

    async def go():
        await asyncio.gather(*(s.add_items([user(f"{i}-{k}"), user(f"{i}-{k}b")])
                               for k in range(10) for i, s in enumerate(sessions)))
        return await sessions[1].get_items()

    try:
        items = asyncio.run(go())
    finally:
        for c in cores:
            c.close()
    got = texts(items)
    assert len(got) == 40
    for i in range(2):  # each batch landed contiguously
        for k in range(10):
            at = got.index(f"{i}-{k}")
            assert got[at + 1] == f"{i}-{k}b"


def test_two_runs_sharing_a_session_lose_nothing_and_the_stale_history_is_detected():
    session = CoherentSession("team")
    barrier = asyncio.Barrier(2)

    def policy(name):
        async def answer(turn):
            await barrier.wait()  # both runs read the history before either answered
            return say(f"{name} answered from {len(turn.items)} items")
        return answer

    async def go():
        runs = [Runner.run(Agent(name=n, model=ScriptedModel(policy(n))), f"{n} asks",
                           session=session) for n in ("alice", "bob")]
        await asyncio.gather(*runs)
        return await session.get_items()

    got = texts(asyncio.run(go()))
    assert len(got) == 4 and {"alice asks", "bob asks"} <= set(got)
    assert sum(t.startswith(("alice answered", "bob answered")) for t in got) == 2
    # one of the runs answered from a history that missed the other's turn: detected
    assert session.stale_appends
    assert all(r["seen"] < r["appended_on"] for r in session.stale_appends)


def test_strict_refuses_a_stale_append_before_writing():
    core = CoherenceAdapterCore()
    a = CoherentSession("team", core=core, strict=True)
    b = CoherentSession("team", core=core, agent="other")

    async def go():
        await a.get_items()
        await b.add_items([user("b")])
        with pytest.raises(StaleView):
            await a.add_items([user("a, derived from a history without b")])
        return await b.get_items()

    assert texts(asyncio.run(go())) == ["b"]


def test_a_session_carries_history_between_runs_and_supports_the_undo_recipe():
    session = CoherentSession("solo", session_settings=None)
    seen = []

    def answer(turn):
        seen.append(texts([i for i in turn.items if isinstance(i, dict)]))
        return say(f"answer {len(seen)}")

    model = ScriptedModel(answer)
    agent = Agent(name="solo", model=model)

    async def go():
        await Runner.run(agent, "first", session=session)
        await Runner.run(agent, "second", session=session)
        popped = [await session.pop_item(), await session.pop_item()]  # undo the last turn
        return popped, await session.get_items(), await session.get_items(limit=1)

    popped, items, tail = asyncio.run(go())
    assert seen[1] == ["first", "answer 1", "second"]
    assert texts(popped) == ["answer 2", "second"]
    assert texts(items) == ["first", "answer 1"] and texts(tail) == ["answer 1"]


def test_the_refusals_depend_on_the_view_check(monkeypatch):
    """Mutation check: a session whose caller's view is always "current" (no check) pops B's item
    and clears it away, exactly like ``SQLiteSession`` above."""
    monkeypatch.setattr(CoherentSession, "view", lambda self, wrapper=None: self._read()[1])
    a, b = coherent_pair()
    assert asyncio.run(undo_race(a, b))["content"] == "B: deploy now"
    a, b = coherent_pair()
    asyncio.run(summarize_race(a, b))
    assert texts(asyncio.run(b.get_items())) == ["summary of 2 items"]


def appends_racing_at_the_commit_point(n: int = 4) -> list[str]:
    """``n`` runs append at once, and every one has read the transcript before any commits (a
    barrier at the client's commit point, in the worker threads the session uses)."""
    core = CoherenceAdapterCore()
    sessions = [CoherentSession("team", core=core, agent=f"run{i}") for i in range(n)]
    barrier = threading.Barrier(n, timeout=10)

    async def go():
        await asyncio.gather(*(s.add_items([user(f"run{i}")]) for i, s in enumerate(sessions)))
        return await sessions[0].get_items()

    with failpoints.arm("client.before_commit", lambda **_: barrier.wait(), times=n):
        return texts(asyncio.run(go()))


def test_appends_racing_at_the_commit_point_all_land():
    assert sorted(appends_racing_at_the_commit_point()) == [f"run{i}" for i in range(4)]


def test_appends_without_compare_and_set_would_lose_items(monkeypatch):
    """Mutation check: the same race with the append written blind loses all but one batch."""
    monkeypatch.setattr(CcsAgent, "commit_cas",
                        lambda self, aid, expected, value: self.write(aid, value, blind=True))
    assert len(appends_racing_at_the_commit_point()) == 1
