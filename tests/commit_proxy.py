"""A TCP proxy that loses one commit's reply, or the commit itself, on a real connection.

Armed with a mode, it watches the client's bytes for a chunk that holds ``marker`` (the record
being committed) and then ``trigger`` (Redis ``EVALSHA``, the engine's conditional apply; for
PostgreSQL the marker is enough: the writes travel in one message with their commit, the one
statement of a speculation or the pipeline flush that ends in ``COMMIT``). Then:

* ``"reply"``: the commit is forwarded; once the server's reply to it has arrived (Redis: the
  script's array; PostgreSQL: ``ReadyForQuery`` outside a transaction, sent once the transaction,
  explicit or implicit, has committed), so the commit has landed, the reply is dropped and the
  connection cut;
* ``"request"``: the commit is never forwarded and the connection is cut: the server rolls back.

``on_cut`` (peers commit, or the server is killed) runs after the server's side of the
connection is closed and before the client's, so the client's retry always comes after it.

No sleeps: each step waits for the bytes that prove the previous one happened.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

REDIS_COMMIT = b"EVAL"  # the engine's conditional apply: EVALSHA, or EVAL when the script was lost
REPLY_DONE = {REDIS_COMMIT: lambda buf: buf.startswith(b"*") or b"\r\n*" in buf,
              b"": lambda buf: b"Z\x00\x00\x00\x05I" in buf}  # ReadyForQuery, idle


class CommitProxy:
    def __init__(self, port: int, marker: bytes, trigger: bytes = b"") -> None:
        self.target, self.marker, self.trigger = port, marker, trigger
        self.reply_done = REPLY_DONE[trigger]
        self.mode: str | None = None
        self.on_cut: Callable[[], None] = lambda: None
        self.cuts = 0
        self._lock = threading.Lock()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, mode: str, on_cut: Callable[[], None] | None = None) -> None:
        self.on_cut = on_cut or (lambda: None)
        self.mode = mode

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            state = {"sent": False, "buf": b""}
            threading.Thread(target=self._up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client, state), daemon=True).start()

    def _take(self) -> str | None:
        with self._lock:
            mode, self.mode = self.mode, None
            return mode

    def _up(self, src: socket.socket, dst: socket.socket, state: dict) -> None:
        seen = False
        try:
            while data := src.recv(65536):
                if self.trigger:  # Redis: the marker, then EVALSHA (maybe in a later chunk)
                    seen = seen or self.marker in data
                    hit = seen and self.trigger in data
                    seen = seen and self.trigger not in data
                else:  # PostgreSQL: the writes; COMMIT follows in this chunk or the next
                    hit = self.marker in data
                if hit and self.mode is not None:
                    if self._take() == "request":
                        self._cut(src, dst)
                        return
                    state["sent"] = True
                dst.sendall(data)
        except OSError:
            pass
        _close(src, dst)

    def _down(self, src: socket.socket, dst: socket.socket, state: dict) -> None:
        try:
            while data := src.recv(65536):
                if not state["sent"]:
                    dst.sendall(data)
                    continue
                state["buf"] += data
                if self.reply_done(state["buf"]):
                    self._cut(dst, src)
                    return
        except OSError:
            pass
        _close(src, dst)

    def _cut(self, client: socket.socket, upstream: socket.socket) -> None:
        """Server side first (it rolls back what it did not commit and frees its locks), then
        ``on_cut`` while the client still waits, then the client side."""
        self.cuts += 1
        _close(upstream)
        try:
            self.on_cut()
        finally:
            _close(client)

    def close(self) -> None:
        self.sock.close()


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
