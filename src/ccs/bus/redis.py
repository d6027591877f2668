"""Redis pub/sub bus: ``redis://host:6379/0?prefix=ccs`` publishes on channel ``{prefix}:events``.

Listeners in the publishing process hear a batch at once, in the publishing thread; other
processes hear it from a daemon thread that reads the subscription. Pub/sub keeps nothing for an
absent subscriber, so after every (re)subscription the thread delivers a ``bus_reset`` event and the
core revalidates every cached copy: an outage costs freshness, never correctness. Publishing never
raises: the commit already landed, and a lost message is caught by the per-artifact ``seq`` gap
check or the next reset.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Sequence

import redis

from ccs.backends import redact_url
from ccs.backends.redis import connect
from ccs.bus.base import Bus, Listener, Listeners, decode_batch, encode_batch, log, reset_event
from ccs.protocol.messages import Event

READY_WAIT = 5.0
POLL = 0.1  # seconds between checks of the stop flag while idle


class RedisBus(Bus):
    def __init__(self, url: str) -> None:
        self.url = url
        self._client, prefix = connect(url)
        self.channel = "{" + prefix + "}:events"
        self.origin = uuid.uuid4().hex
        self._listeners = Listeners()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pubsub: redis.client.PubSub | None = None
        self.dropped = 0  # batches that could not be published (server away)
        self.resets = 0  # (re)subscriptions, each announced to listeners as a bus_reset

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self._listeners.deliver(events)
        try:
            self._client.publish(self.channel, encode_batch(self.origin, events))
        except redis.RedisError as exc:
            self.dropped += 1
            log.warning("%s: invalidation not published (%s)", redact_url(self.url), exc)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        remove = self._listeners.add(listener)
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ccs-redis-bus", daemon=True)
                self._thread.start()
        self._ready.wait(READY_WAIT)
        return remove

    def _run(self) -> None:
        delay = 0.05
        while not self._stop.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=False)
            self._pubsub = pubsub
            try:
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=POLL)
                    if msg is None:
                        continue
                    if msg["type"] == "subscribe":
                        self.resets += 1
                        self._ready.set()
                        delay = 0.05
                        self._listeners.deliver([reset_event("redis bus subscribed")])
                    elif msg["type"] == "message":
                        self._on_message(msg["data"])
            except (redis.RedisError, OSError, ValueError) as exc:
                if self._stop.is_set():
                    return
                log.info("%s: bus connection lost (%s); reconnecting", redact_url(self.url), exc)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    pubsub.close()
            self._stop.wait(delay)
            delay = min(delay * 2, 1.0)

    def _on_message(self, data: bytes) -> None:
        try:
            origin, events = decode_batch(data)
        except (ValueError, KeyError, TypeError):
            log.warning("%s: undecodable bus message dropped", redact_url(self.url))
            return
        if origin != self.origin:
            self._listeners.deliver(events)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._client.close()
