"""Redis pub/sub bus: ``redis://host:6379/0?prefix=ccs`` publishes on channel ``{prefix}:events``.

See ``ccs.bus.remote`` for delivery, resets after reconnection and why publishing never raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import redis

from ccs.backends.redis import RedisBackend, connect
from ccs.bus.base import encode_batch
from ccs.bus.remote import POLL, PollingBus
from ccs.protocol.messages import Event


class RedisBus(PollingBus):
    thread_name = "ccs-redis-bus"
    transport_errors = (redis.RedisError, OSError, ValueError)

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._client, prefix = connect(url)
        self.channel = "{" + prefix + "}:events"

    def carrier(self, backend: object) -> Callable[[Sequence[Event]], tuple[str, bytes]] | None:
        """On the store this bus listens on, a commit's events are PUBLISHed by the engine's
        conditional-apply script that writes the commit, only if it applies (same round trip)."""
        if not (isinstance(backend, RedisBackend) and backend.url == self.url):
            return None
        return lambda events: (self.channel, encode_batch(self.origin, events))

    def publish(self, events: Sequence[Event]) -> None:
        if not events:
            return
        self.deliver_local(events)
        try:
            self._client.publish(self.channel, encode_batch(self.origin, events))
        except redis.RedisError as exc:
            self._publish_failed(exc)

    def _listen(self) -> None:
        pubsub = self._client.pubsub(ignore_subscribe_messages=False)
        try:
            pubsub.subscribe(self.channel)
            while not self._stop.is_set():
                msg = pubsub.get_message(timeout=POLL)
                if msg is None:
                    continue
                if msg["type"] == "subscribe":
                    self._subscribed("redis bus subscribed")
                elif msg["type"] == "message":
                    self._received(msg["data"])
        finally:
            with contextlib.suppress(redis.RedisError, OSError):
                pubsub.close()

    def close(self) -> None:
        super().close()
        self._client.close()
