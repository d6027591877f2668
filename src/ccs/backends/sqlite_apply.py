"""The SQLite commit without its read: the transition run on the records this process last saw,
written behind one conditional ``UPDATE`` that checks them.

A commit on the locking path reads its records under the write lock (``BEGIN IMMEDIATE``, then a
``SELECT`` of every key: ~8 µs for an owner's three keys, most of it the 2 KB artifact body
copied into Python and compared with the remembered one). But the engine's ``RecordCodec``
remembers, per key, the body this process last read or wrote, and in a steady state (an owner
writing its artifact again, a CAS on a counter it has cached) that is still the stored body. A
*guess* runs the transition (``fn``, pure, in Python as always) on the remembered records before
the lock is taken; under the lock, the first record it changes is written by

    UPDATE ccs_records SET body = :new WHERE key = :key AND body = :remembered
      AND (SELECT body FROM ccs_records WHERE key = :other) IS :remembered_other ...

which changes the row only if every key the transition read still holds the remembered body
(compared byte for byte by SQLite). One row changed: the guess holds, the rest of its writes
follow in the same transaction and it commits exactly what the locking path would have committed
at that moment. No row changed: nothing was written, and the same transaction goes on as the
locking path (read, ``fn`` on the real records, writes). A key whose guess missed is not guessed
on for a second (a contended key would miss again, and a miss costs a statement).

A refusal decided on remembered records is never reported: the locking path decides on the real
ones. Content a remembered record references counts as stored only once the check held (the
write lock keeps a collection out until the commit), as on the locking path.
"""

from __future__ import annotations

import functools
import time
from typing import Any, NamedTuple

from ccs.backends.base import Blobs, RecordCodec, TransactFn, new_content, unpack
from ccs.protocol.audit import AuditBatch
from ccs.protocol.errors import BackendUnavailable, CoherenceError
from ccs.protocol.records import ArtifactRecord

CONTENDED_FOR = 1.0  # seconds without guessing on a key after a guess on it missed
CONTENDED_KEPT = 4096  # keys remembered as contended (forgotten at once past this)


@functools.lru_cache(maxsize=16)
def _check_update(others: int) -> str:
    """The conditional ``UPDATE`` of one record, checking ``others`` more keys (built once)."""
    return ("UPDATE ccs_records SET body = ? WHERE key = ? AND body = ?"
            + " AND (SELECT body FROM ccs_records WHERE key = ?) IS ?" * others)


class Guess(NamedTuple):
    """A transition already run on the remembered records, with the statement that checks them."""

    check: str  # the conditional UPDATE
    params: tuple[Any, ...]
    key: str  # the record that UPDATE writes; ``changes`` holds the others
    changes: dict[str, Any]
    result: Any
    audit: AuditBatch | None
    notice: Any
    content: dict[str, bytes]


class Guesser:
    """Decides whether to guess, and runs ``fn`` on the remembered records when it does.

    ``counts``: transactions that committed on a guess, and guesses that missed (tests read them).
    """

    def __init__(self, codec: RecordCodec) -> None:
        self.codec = codec
        self.counts = {"committed": 0, "missed": 0}
        self.contended_for = CONTENDED_FOR
        self._contended: dict[str, float] = {}  # key: monotonic time until which it is skipped

    def guess(self, keys: Any, fn: TransactFn[Any], blobs: Blobs | None) -> Guess | None:
        """``fn`` run on the records this process last saw, if it remembers every key and the
        outcome updates one of them. ``None``: take the locking path."""
        if self._contended and self._still_contended(keys):
            return None
        remembered = self.codec.remembered
        records: dict[str, Any] = {}
        bodies: dict[str, Any] = {}
        for key in keys:
            seen = remembered(key)
            if seen is None:
                return None
            bodies[key], records[key] = seen
        try:
            changes, result, audit, notice = unpack(fn(records))
            if not changes:  # nothing to update: the locking path reads and writes the rest
                return None
            target = next((k for k, r in changes.items() if k in bodies and r is not None), None)
            if target is None:
                return None
            content = new_content(records, changes, blobs)
        except BackendUnavailable:  # a fault, not a verdict on the records: it stands
            raise
        except CoherenceError:  # a refusal may come from a stale memory: decide on the real records
            return None
        for key in changes:  # content a checked record references exists (see the module doc)
            old = records.get(key)
            if content and old is not None and old.__class__ is ArtifactRecord:
                content.pop(old.content.digest, None)
                for _, digest in old.history:
                    content.pop(digest, None)
        rest = dict(changes)
        new = rest.pop(target)
        params: list[Any] = [self.codec.encode(target, new), target, bodies.pop(target)]
        for key, body in bodies.items():
            params += (key, body)
        return Guess(_check_update(len(bodies)), tuple(params), target, rest, result, audit, notice,
                     content)

    def missed(self, guess: Guess, keys: Any) -> None:
        """The check found another body: keep off these keys for a while."""
        self.counts["missed"] += 1
        self.codec.forget(guess.key)  # the body encoded for the guess was never stored
        until = time.monotonic() + self.contended_for
        if len(self._contended) > CONTENDED_KEPT:  # keys missed once and never used again
            self._contended.clear()
        for key in keys:
            self._contended[key] = until

    def _still_contended(self, keys: Any) -> bool:
        now = time.monotonic()
        hit = False
        for key in keys:
            until = self._contended.get(key)
            if until is not None:
                if until > now:
                    hit = True
                else:
                    self._contended.pop(key, None)
        return hit
