"""Engine transactions on a counter record, shared by the speculative-commit tests of each engine:
the counter is an ``AgentRecord`` whose ``expires_at`` holds the count (any record type would do;
this one is small and has a float field)."""

from __future__ import annotations

import pytest

from ccs.protocol.errors import ConflictError
from ccs.protocol.records import AgentRecord

KEY = "g/counter"


def value(rec: AgentRecord | None) -> int:
    return 0 if rec is None else int(rec.expires_at)


def counter(n: int, name: str = "counter") -> AgentRecord:
    return AgentRecord(name, float(n), 1.0)


def increment(records):
    n = value(records[KEY]) + 1
    return {KEY: counter(n)}, n


def cas(expected: int, calls: list[int] | None = None):
    """Set the counter to ``expected + 1`` only if it holds ``expected``: a fenced write."""
    def fn(records):
        n = value(records[KEY])
        if calls is not None:
            calls.append(n)
        if n != expected:
            raise ConflictError(f"counter is at {n}, not {expected}", artifact=KEY)
        return {KEY: counter(n + 1)}, n + 1
    return fn


def refusal_is_confirmed_on_the_store(mine, peer, stored) -> None:
    """``mine`` remembers the counter one behind what ``peer`` just stored: a CAS its memory
    allows is refused on the stored record, and one its memory refuses is applied on it.
    ``stored()`` reads the counter from the store directly."""
    peer.transact([KEY], increment)  # mine now remembers one less than the store holds
    at = stored()
    calls: list[int] = []
    with pytest.raises(ConflictError):  # allowed on the memory, refused on what is stored
        mine.transact([KEY], cas(at - 1, calls))
    assert calls == [at - 1, at] and stored() == at
    peer.transact([KEY], increment)
    calls.clear()
    assert mine.transact([KEY], cas(at + 1, calls)) == at + 2  # refused on the memory only
    assert calls == [at, at + 1] and stored() == at + 2
