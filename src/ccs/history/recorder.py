"""Recording what clients did: each operation's invocation and response, with timestamps.

Timestamps are ``time.monotonic_ns()``: on Linux that is CLOCK_MONOTONIC, one clock for every
process on the host, so histories recorded by several processes merge into one real-time order.

With a path, every invocation and every response is appended to a JSON-lines file as its own
line, flushed before the operation starts or as soon as it returns. A process killed mid-operation
thus leaves the invocation without a response: :func:`load_history` reads it as pending (it may
or may not have taken effect), which is exactly what the checker needs to know.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ccs.protocol.errors import ConflictError

OK, FAIL, PENDING = "ok", "fail", "pending"


@dataclass
class Op:
    """One operation of one client on one artifact.

    ``status`` is ``ok`` (took effect, ``outputs`` holds what it returned), ``fail`` (refused with
    ``error``; by the contract nothing was applied) or ``pending`` (no response: crashed client or
    an error that leaves the outcome unknown).
    """

    id: str
    client: str
    op: str
    artifact: str
    inputs: dict[str, Any]
    invoke: int
    complete: int | None = None
    status: str = PENDING
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Recorder:
    """Thread-safe history recorder; process-safe through one file (or one O_APPEND file) per process."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        self._fd = None if path is None else os.open(
            self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._lock = threading.Lock()
        self._counter = itertools.count()
        self._ops: list[Op] = []

    def _append(self, line: dict[str, Any]) -> None:
        if self._fd is not None:
            # one write(2) per line on an O_APPEND descriptor: lines never interleave
            os.write(self._fd, (json.dumps(line, separators=(",", ":")) + "\n").encode())

    def invoke(self, client: str, op: str, artifact: str, **inputs: Any) -> Op:
        return self._invoke(client, op, artifact, inputs, None)

    def _invoke(self, client: str, op: str, artifact: str, inputs: dict[str, Any], at: int | None) -> Op:
        with self._lock:
            oid = f"{client}/{os.getpid()}/{next(self._counter)}"
            rec = Op(oid, client, op, artifact, inputs, time.monotonic_ns() if at is None else at)
            self._ops.append(rec)
            self._append({"t": "invoke", "id": oid, "client": client, "op": op,
                          "artifact": artifact, "inputs": inputs, "at": rec.invoke})
        return rec

    def ok(self, op: Op, **outputs: Any) -> None:
        with self._lock:
            op.complete, op.status, op.outputs = time.monotonic_ns(), OK, outputs
            self._append({"t": OK, "id": op.id, "at": op.complete, "outputs": outputs})

    def fail(self, op: Op, error: str) -> None:
        with self._lock:
            op.complete, op.status, op.error = time.monotonic_ns(), FAIL, error
            self._append({"t": FAIL, "id": op.id, "at": op.complete, "error": error})

    def completed(self, client: str, op: str, artifact: str, inputs: dict[str, Any], invoked: int,
                  outputs: dict[str, Any]) -> Op:
        """Record a successful operation known only after it returned (one sweep reclaims grants on
        artifacts nobody could name beforehand); ``invoked`` is when the call started."""
        rec = self._invoke(client, op, artifact, inputs, invoked)
        self.ok(rec, **outputs)
        return rec

    @contextmanager
    def record(self, client: str, op: str, artifact: str, **inputs: Any) -> Iterator[Op]:
        """Invoke; the body calls :meth:`ok`. A typed conflict is recorded as a failure (nothing
        applied); any other exception leaves the operation pending, since it may have landed."""
        rec = self.invoke(client, op, artifact, **inputs)
        try:
            yield rec
        except ConflictError as exc:
            self.fail(rec, exc.code)
            raise

    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_history(*paths: str | os.PathLike[str]) -> list[Op]:
    """Merge the JSON-lines files of several recorders; an invocation without response is pending.

    A torn last line (the writer was killed mid-write) is ignored; a torn line elsewhere is an error.
    """
    ops: dict[str, Op] = {}
    for path in paths:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for n, text in enumerate(lines):
            if not text:
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                if n == len(lines) - 1:
                    continue
                raise ValueError(f"{path}:{n + 1}: not a history line: {text[:80]!r}") from None
            if line["t"] == "invoke":
                ops[line["id"]] = Op(line["id"], line["client"], line["op"], line["artifact"],
                                     line["inputs"], line["at"])
                continue
            op = ops[line["id"]]
            op.complete, op.status = line["at"], line["t"]
            op.outputs = line.get("outputs", {})
            op.error = line.get("error")
    return sorted(ops.values(), key=lambda o: o.invoke)
