"""Invalidations for remote caches, as Server-Sent Events (``GET /v1/events``).

The server listens on the engine's bus (commits made through this server, and, on a shared
engine, by any other process) and forwards each invalidation to every open stream. The protocol
publishes an invalidation only when some agent holds a copy to drop: a remote cache's reads go
through the server as its agent, which makes that agent a sharer, so its copies are covered. A stream
begins with ``ready``: a client may serve cached copies only after it, and must drop them all
when the stream breaks or says ``reset`` (the server's bus reconnected, or this stream fell
behind and events were dropped). Every event carries the artifact's ``seq``, so a client that
fetched a newer copy while an older invalidation was in flight keeps it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from ccs.bus import Bus
from ccs.bus.base import BUS_RESET
from ccs.protocol.ids import agent_name
from ccs.protocol.messages import Event

QUEUE_SIZE = 1024
PING_SECONDS = 15
RESET = {"kind": "reset"}


@dataclass(eq=False)
class _Stream:
    loop: asyncio.AbstractEventLoop
    prefix: str
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def put(self, item: dict) -> None:  # on the stream's loop
        if self.queue.full():  # fell behind: what it missed is unknowable, so say reset
            while not self.queue.empty():
                self.queue.get_nowait()
            item = RESET
        self.queue.put_nowait(item)


class EventHub:
    def __init__(self, bus: Bus) -> None:
        self._streams: set[_Stream] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._seq: dict[str, int] = {}  # per artifact, the latest seq forwarded (a bus may repeat one)
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(self._on_event)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: Event) -> None:  # on a bus thread
        if event.kind == "downgrade":  # the copy stays valid
            return
        with self._lock:
            if event.kind == BUS_RESET:
                self._seq.clear()
            elif event.seq <= self._seq.get(event.artifact, -1):
                return
            else:
                self._seq[event.artifact] = event.seq
        item = RESET if event.kind == BUS_RESET else {
            "kind": event.kind, "artifact": event.artifact, "version": event.version,
            "epoch": event.epoch, "seq": event.seq, "by": None if event.by is None else agent_name(event.by)}
        for stream in list(self._streams):
            if item is RESET or event.artifact.startswith(stream.prefix):
                try:
                    stream.loop.call_soon_threadsafe(stream.put, item)
                except RuntimeError:  # its loop closed: the stream is gone
                    self._streams.discard(stream)

    async def stream(self, prefix: str = "") -> AsyncIterator[dict]:
        """SSE messages (``event``, ``id``, ``data``) until the client goes away."""
        stream = _Stream(asyncio.get_running_loop(), prefix)
        self._streams.add(stream)
        try:
            yield {"event": "ready", "id": str(next(self._ids)), "data": "{}"}
            while True:
                item = await stream.queue.get()
                yield {"event": item["kind"], "id": str(next(self._ids)),
                       "data": json.dumps(item, separators=(",", ":"))}
        finally:
            self._streams.discard(stream)
