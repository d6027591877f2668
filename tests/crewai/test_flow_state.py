"""Parallel Flow listeners: ``self.state`` has no lock, so read -> think -> write on ``state.n``
from three listeners ends at 1. A ``SharedField`` refuses the stale writes (``write(based_on=)``)
or never loses one (``update``)."""

import threading
import time

import pytest
from crewai.flow.flow import Flow, listen, start
from pydantic import BaseModel

from ccs import StaleView
from ccs.adapters.crewai import SharedField


class Counter(BaseModel):
    n: int = 0
    refused: int = 0


def parallel_flow(step):
    """Three listeners of one start, run concurrently by CrewAI; each calls ``step(flow, name)``."""
    barrier = threading.Barrier(3)

    class Parallel(Flow[Counter]):
        @start()
        def begin(self):
            return "go"

        @listen(begin)
        def a(self):
            step(self, "a", barrier)

        @listen(begin)
        def b(self):
            step(self, "b", barrier)

        @listen(begin)
        def c(self):
            step(self, "c", barrier)

    return Parallel()


def test_baseline_flow_state_loses_updates():
    def naive(flow, name, barrier):
        n = flow.state.n
        barrier.wait(timeout=20)   # everyone has read: the race, made deterministic
        flow.state.n = n + 1

    flow = parallel_flow(naive)
    flow.kickoff()
    assert flow.state.n == 1  # three increments, two lost, nothing said


def test_shared_field_refuses_stale_writes(shared_core):
    field = SharedField(shared_core, "flow/n", initial=0)
    refused = []

    def checked(flow, name, barrier):
        snap = field.read(agent=name)
        barrier.wait(timeout=20)
        while True:
            try:
                field.write(snap.value + 1, based_on=snap, agent=name)
                return
            except StaleView as err:
                refused.append((name, err.current_version))
                snap = field.read(agent=name)  # recover: re-read, re-derive

    parallel_flow(checked).kickoff()
    assert field.get() == 3
    assert len(refused) >= 2 and all(v >= 1 for _, v in refused)


@pytest.mark.parametrize("think", [0.0, 0.01])
def test_shared_field_update_loses_nothing(shared_core, think):
    field = SharedField(shared_core, "flow/n", initial=0)

    def update(flow, name, barrier):
        barrier.wait(timeout=20)
        field.update(lambda n: (time.sleep(think), n + 1)[1], agent=name)

    parallel_flow(update).kickoff()
    assert field.get() == 3
