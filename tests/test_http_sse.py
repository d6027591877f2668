"""The event hub behind ``GET /v1/events``, and the remote cache failing closed: a stream that
falls behind is told ``reset`` (what it missed is unknowable), a repeated event is forwarded once,
a downgrade (the copy stays valid) not at all, and a cache whose stream broke serves nothing."""

from __future__ import annotations

import asyncio
import signal

import pytest

from ccs.bus.base import reset_event
from ccs.bus.memory import MemoryBus
from ccs.client.http import HttpClient
from ccs.protocol.errors import BackendUnavailable
from ccs.protocol.messages import Event
from ccs.server.sse import QUEUE_SIZE, EventHub
from conformance.test_bus import wait_for
from http_server import serve


def event(seq: int, kind: str = "invalidate", artifact: str = "plan.md") -> Event:
    return Event(kind, artifact, seq, 0, seq, "writer@0123456789ab", ("reader@0123456789ab",))


async def collect(hub: EventHub, publish, count: int) -> list[dict]:
    stream = hub.stream()
    out = [await anext(stream)]  # ready: the stream is registered
    publish()
    await asyncio.sleep(0)  # let the loop run the deliveries queued from "another thread"
    for _ in range(count):
        out.append(await asyncio.wait_for(anext(stream), 10))
    await stream.aclose()
    return out


def test_a_stream_that_falls_behind_is_told_reset():
    bus = MemoryBus()
    hub = EventHub(bus)
    # QUEUE_SIZE fill the queue; the next one finds it full: the backlog is replaced by a reset
    got = asyncio.run(collect(hub, lambda: bus.publish([event(s) for s in range(1, QUEUE_SIZE + 6)]), 5))
    assert got[0]["event"] == "ready"
    assert got[1]["event"] == "reset"  # everything cached must go
    assert [m["event"] for m in got[2:]] == ["invalidate"] * 4
    assert f'"seq":{QUEUE_SIZE + 5}' in got[-1]["data"]
    hub.close()


def test_repeats_and_downgrades_are_not_forwarded_and_bus_resets_are():
    bus = MemoryBus()
    hub = EventHub(bus)
    events = [event(1), event(1), event(2, "downgrade"), event(3), reset_event("reconnected"), event(3)]
    got = asyncio.run(collect(hub, lambda: bus.publish(events), 4))
    assert [m["event"] for m in got] == ["ready", "invalidate", "invalidate", "reset", "invalidate"]
    assert "\"seq\":1" in got[1]["data"] and "\"seq\":3" in got[2]["data"]
    hub.close()


def test_a_cache_whose_stream_broke_serves_nothing(tmp_path):
    with serve(f"sqlite:///{tmp_path}/state.db", tmp_path) as srv:
        c = HttpClient(srv.url, token=srv.token, agent="reader")
        c.write("plan.md", "v1")
        with c.cache() as cache:
            assert wait_for(cache.ready.is_set)
            assert cache.read("plan.md") == "v1" and cache.cached("plan.md")
            srv.proc.send_signal(signal.SIGKILL)
            srv.proc.wait(timeout=10)
            assert wait_for(lambda: not cache.ready.is_set())
            assert not cache.cached("plan.md")
            with pytest.raises(BackendUnavailable):  # not the copy it can no longer vouch for
                cache.read("plan.md")
