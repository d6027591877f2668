"""A remote agent's read cache, kept coherent by ``ccs serve``'s event stream.

Copies are served only while the stream is up: before its ``ready``, after it breaks, and after
a ``reset`` every read goes to the server. An invalidation with sequence number ``s`` drops a
copy fetched at a lower ``seq``; a fetch that raced a newer invalidation is not kept. A write
through the cache drops the copy it replaced.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ccs.client.http import HttpClient, Remote

RECONNECT_SECONDS = (0.05, 0.2, 1.0, 2.0)


class RemoteCache:
    def __init__(self, client: HttpClient, *, prefix: str = "", agent: str) -> None:
        self.client = client
        self.agent = agent
        self.prefix = prefix
        self.hits = self.misses = self.invalidations = 0
        self._entries: dict[str, Remote] = {}
        self._invalid_after: dict[str, int] = {}
        self._generation = 0  # moves whenever the stream (re)starts or resets
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self._closed = threading.Event()
        self._conn: Any = None
        self._thread = threading.Thread(target=self._follow, name="ccs-http-events", daemon=True)
        self._thread.start()

    # --- reads and writes ------------------------------------------------------------------------

    def snapshot(self, artifact: str) -> Remote:
        with self._lock:
            entry = self._entries.get(artifact) if self.ready.is_set() else None
            generation = self._generation
            if entry is not None:
                self.hits += 1
                return entry
            self.misses += 1
        remote = self.client.read(artifact, agent=self.agent)
        with self._lock:
            if (self.ready.is_set() and generation == self._generation
                    and remote.seq >= self._invalid_after.get(artifact, -1)):
                self._entries[artifact] = remote
        return remote

    def read(self, artifact: str) -> Any:
        return self.snapshot(artifact).value

    def _drop(self, artifact: str) -> None:
        with self._lock:
            self._entries.pop(artifact, None)

    def write(self, artifact: str, value: Any) -> int:
        try:
            return self.client.write(artifact, value, agent=self.agent)
        finally:
            self._drop(artifact)

    def write_cas(self, artifact: str, expected_version: int, value: Any) -> int:
        try:
            return self.client.write_cas(artifact, expected_version, value, agent=self.agent)
        finally:
            self._drop(artifact)

    def cached(self, artifact: str) -> bool:
        with self._lock:
            return self.ready.is_set() and artifact in self._entries

    # --- the event stream ------------------------------------------------------------------------

    def _restart(self, ready: bool) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._invalid_after.clear()
            if ready:
                self.ready.set()
            else:
                self.ready.clear()

    def _on(self, event: str, data: dict[str, Any]) -> None:
        if event in ("ready", "reset"):
            self._restart(True)
        elif "artifact" in data and "seq" in data:
            artifact, seq = data["artifact"], data["seq"]
            with self._lock:
                if seq > self._invalid_after.get(artifact, -1):
                    self._invalid_after[artifact] = seq
                entry = self._entries.get(artifact)
                if entry is not None and entry.seq < seq:
                    del self._entries[artifact]
                    self.invalidations += 1

    def _follow(self) -> None:
        attempt = 0
        while not self._closed.is_set():
            try:
                for event, data in self.client.events(self.prefix, on_connect=self._connected):
                    attempt = 0
                    self._on(event, data)
            except Exception:  # broken stream or server away: no copy is trusted until ready again
                pass
            self._restart(False)
            delay = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
            attempt += 1
            self._closed.wait(delay)

    def _connected(self, conn: Any) -> None:
        self._conn = conn
        if self._closed.is_set():
            self._shutdown()

    def _shutdown(self) -> None:
        conn = self._conn
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed.set()
        self._shutdown()
        self._thread.join(timeout=5)
        self._restart(False)

    def __enter__(self) -> RemoteCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
