"""NATS bus: ``nats://host:4222?subject=ccs.events`` (several servers: ``nats://a:4222,b:4222``).

nats-py is asyncio-only, so the bus runs its own event loop in a daemon thread; ``publish`` hands
the message to that loop. Listeners in the publishing process hear a batch at once, in the
publishing thread; messages from other processes are delivered by a second daemon thread, so a
slow listener never stalls the NATS connection. See ``ccs.bus.remote`` for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import threading
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import nats
from nats.errors import Error as NatsError

from ccs.backends import redact_url
from ccs.bus.base import encode_batch, log
from ccs.bus.remote import RemoteBus
from ccs.protocol.errors import BackendUnavailable, UnknownEngine
from ccs.protocol.messages import Event

_SUBJECT = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
CONNECT_TIMEOUT = 5.0


def parse_nats_url(url: str) -> tuple[list[str], str]:
    parts = urlsplit(url)
    if parts.scheme not in {"nats", "tls"}:
        raise UnknownEngine(f"not a NATS URL: {redact_url(url)!r}")
    subject = dict(parse_qsl(parts.query)).get("subject", "ccs.events")
    if not _SUBJECT.match(subject):
        raise UnknownEngine(f"subject={subject!r} in {redact_url(url)!r} is not a plain NATS subject")
    auth = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    hosts = parts.netloc.rsplit("@", 1)[-1].split(",")
    return [f"{parts.scheme}://{auth}{h}" for h in hosts], subject


async def _cancel_pending() -> None:
    """Cancels every other task of the bus's loop and waits for them, so closing the loop
    destroys no pending task."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class NatsBus(RemoteBus):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.servers, self.subject = parse_nats_url(url)
        self._inbox: queue.SimpleQueue[list[Event] | None] = queue.SimpleQueue()
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="ccs-nats-loop",
                                             daemon=True)
        self._loop_thread.start()
        self._deliver_thread = threading.Thread(target=self._deliver, name="ccs-nats-bus", daemon=True)
        self._deliver_thread.start()
        self._nc: Any = None
        try:
            self._nc = self._await(self._connect(), CONNECT_TIMEOUT + 1)
        except (TimeoutError, NatsError, OSError, FutureTimeout) as exc:
            self.close()
            raise BackendUnavailable(f"{redact_url(url)}: cannot connect the NATS bus: "
                                     f"{str(exc) or type(exc).__name__}", url=redact_url(url)) from exc

    def _await(self, coro: Any, timeout: float) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self) -> Any:
        async def reconnected() -> None:
            self._announce_reset("nats bus reconnected")

        async def on_error(exc: Exception) -> None:
            log.info("%s: %s", redact_url(self.url), exc)

        nc = await nats.connect(
            servers=self.servers, connect_timeout=CONNECT_TIMEOUT, allow_reconnect=True,
            max_reconnect_attempts=-1, reconnect_time_wait=0.2, reconnected_cb=reconnected,
            error_cb=on_error, name=f"ccs-{self.origin[:8]}")
        await nc.subscribe(self.subject, cb=self._on_msg)
        await nc.flush(timeout=CONNECT_TIMEOUT)
        self._announce_reset("nats bus subscribed")
        return nc

    def _hand_over(self, events: list[Event]) -> None:
        self._inbox.put(events)  # the delivery thread, never the NATS loop, runs listeners

    async def _on_msg(self, msg: Any) -> None:
        self._received(msg.data)

    def _deliver(self) -> None:
        while True:
            events = self._inbox.get()
            if events is None:
                return
            self._listeners.deliver(events)

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self.deliver_local(events)
        try:
            # While disconnected, nats-py buffers the message and sends it on reconnect.
            self._await(self._nc.publish(self.subject, encode_batch(self.origin, events)), 2.0)
        except (TimeoutError, NatsError, OSError, FutureTimeout) as exc:
            self._publish_failed(exc)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._nc is not None:
            with contextlib.suppress(NatsError, OSError, FutureTimeout, asyncio.TimeoutError):
                self._await(self._nc.close(), 3.0)
            self._nc = None
        with contextlib.suppress(FutureTimeout, RuntimeError):
            self._await(_cancel_pending(), 2.0)  # e.g. a connect that timed out
        self._inbox.put(None)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join(timeout=2)
        self._deliver_thread.join(timeout=2)
        if not self._loop_thread.is_alive():
            self._loop.close()
