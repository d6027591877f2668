"""The SQL a volume runs per change of a file: a ``write_cas`` after a peer's commit is one read
of the record and one write transaction (the compare-and-set), not a registering read
transaction, a content fetch and then the commit; a ``write`` is exactly a plain engine commit."""

from __future__ import annotations

import pytest

from ccs.adapters.coherent_volume import CoherentVolume

P = "data/counter"


def increment(b: bytes | None) -> bytes:
    return b"1" if b is None else str(int(b) + 1).encode()


@pytest.fixture
def pair(tmp_path):
    a = CoherentVolume(tmp_path, managed=("data/**",), agent="a", encoding=None)
    b = CoherentVolume(tmp_path, managed=("data/**",), agent="b", encoding=None)
    yield a, b
    a.close()
    b.close()


def statements(vol: CoherentVolume, op) -> list[str]:
    seen: list[str] = []
    conn = vol.coordinator.backend._conn()  # this thread's connection of the volume's engine
    conn.set_trace_callback(seen.append)
    try:
        op()
    finally:
        conn.set_trace_callback(None)
    return [s for s in seen if not s.startswith("PRAGMA busy_timeout")]


def test_write_cas_after_a_peer_commit_is_one_record_read_and_one_transaction(pair) -> None:
    a, b = pair
    for _ in range(3):
        a.write_cas(P, increment)
        b.write_cas(P, increment)
    seen = statements(a, lambda: a.write_cas(P, increment))
    assert sum(s == "BEGIN IMMEDIATE" for s in seen) == 1
    assert not any("FROM ccs_blobs" in s for s in seen)  # the disk already holds the content
    assert seen[0].startswith("SELECT body FROM ccs_records")
    # + BEGIN, the record written behind its check (no SELECT under the lock: the engine remembers
    # the body it read), blob, audit, the peer's invalidation, COMMIT
    assert len(seen) == 7, seen
    assert a.read(P) == b"7"
    assert [e.version for e in a.coordinator.audit(P)][-1] == 7


def test_write_cas_over_a_foreign_edit_still_takes_the_full_path(pair, tmp_path) -> None:
    a, b = pair
    a.write_cas(P, increment)
    b.write_cas(P, increment)
    (tmp_path / P).write_bytes(b"41")  # changed outside the volume: adopted (on_stale_read=adopt)
    assert a.write_cas(P, increment) == 4
    assert b.read(P) == b"42"


def test_write_is_a_plain_engine_commit(pair) -> None:
    a, _ = pair
    a.write(P, b"x")
    a.read(P)
    seen = statements(a, lambda: a.write(P, b"y"))
    assert seen[0] == "BEGIN IMMEDIATE" and seen[-1] == "COMMIT"
    assert len(seen) == 5, seen  # BEGIN, the record written behind its check, blob, audit, COMMIT
