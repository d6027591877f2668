"""``CCSStore.record_to(path)``: one JSON line per store operation, for replay and diagnosis.

Each line::

    {"t": <clock seconds>, "agent": "planner", "scope": "planner:<task id>" | null,
     "op": "get" | "put" | "delete" | "search" | "list_namespaces" | "update",
     "artifact": "lg/[\\"users\\",\\"u1\\",\\"prefs\\"]" | null, "namespace": [...], "key": "prefs",
     "seen": <version the caller's view held, null for a blind write>,
     "version": <version served (reads) or written (writes)>,
     "outcome": "hit" | "miss" | "absent" | "ok" | "noop" | "conflict" | "error",
     "error": {<CoherenceError.to_dict()>} (on conflicts and errors),
     "thread": "<pid>/<thread id>" (the thread that ran the operation and wrote the line)}

``search`` and ``list_namespaces`` lines carry ``"count"`` and, for search, ``"items"``: the
``[artifact, version]`` pairs returned. Lines of one ``thread`` are in the order its operations ran
(each is written by the operation itself, before it returns): ``ccs replay`` takes its time bounds
from that. Lines are appended under a lock and flushed one by one, so
a crash loses at most the line being written.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any


class Recorder:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            if not self._file.closed:
                self._file.write(line)
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every record of a log written by ``record_to``."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
