"""Engine calls never run on the event loop's thread, and the session is one the SDK treats as a
context-aware ``Session`` (it receives the run's wrapper, so views are per run)."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("agents")

from agents import Agent, Runner, set_tracing_disabled
from agents.memory import Session
from agents.memory.session import _session_accepts_wrapper
from oai_team import DOC, START, run_team

from ccs import failpoints
from ccs.adapters.openai_agents import CoherentSession, SharedArtifacts
from ccs.adapters.openai_agents.testing import ScriptedModel, say

set_tracing_disabled(True)


def test_no_engine_call_on_the_event_loop(tmp_path):
    threads: list[str] = []
    with SharedArtifacts(engine=f"sqlite:///{tmp_path / 'state.db'}") as shared:
        shared.core.agent("setup").write(DOC, START)
        session = shared.session("team")

        async def go():
            loop_thread = threading.current_thread().name
            await run_team(["a", "b"], lambda name: shared.tools(), hooks=shared.hooks())
            await Runner.run(Agent(name="c", model=ScriptedModel(lambda t: say("hi"))), "hello",
                             session=session)
            await session.get_items()
            return loop_thread

        with failpoints.arm("coordinator.before_transact",
                            lambda **_: threads.append(threading.current_thread().name)):
            loop_thread = asyncio.run(go())
    assert threads, "the failpoint saw the engine calls"
    assert loop_thread not in threads


def test_the_sdk_sees_a_context_aware_session():
    session = CoherentSession("x")
    assert isinstance(session, Session)
    assert _session_accepts_wrapper(session)
