"""A process whose SQLite bus fell behind the trimmed event window revalidates its cache instead
of serving its old copy forever."""

from __future__ import annotations

from ccs import CoherenceAdapterCore
from ccs.backends.sqlite import SqliteBackend
from ccs.bus.sqlite import SqliteBus


def _core(url: str, keep_rows: int) -> tuple[CoherenceAdapterCore, SqliteBus]:
    backend = SqliteBackend(url)
    bus = SqliteBus(backend, interval=0, keep_rows=keep_rows)  # polled by hand: a stalled process
    return CoherenceAdapterCore(engine=backend, bus=bus), bus


def test_reader_behind_the_trimmed_window_revalidates(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    core_a, bus_a = _core(url, keep_rows=8)
    core_b, _ = _core(url, keep_rows=8)
    try:
        reader, writer, peer = core_a.agent("reader"), core_b.agent("writer"), core_b.agent("peer")
        writer.write("plan", "v1")
        assert reader.read("plan") == "v1"
        bus_a.poll()
        writer.write("plan", writer.read("plan") + " v2")  # invalidates reader: an event row
        for i in range(40):  # other traffic, enough for the rows above to be trimmed
            peer.read("noise", None)
            writer.write("noise", i, blind=True)
        bus_a.poll()  # the process wakes up: the invalidation it needed is gone
        assert reader.read("plan") == "v1 v2"
        assert reader.stats.hits == 0
    finally:
        core_a.close()
        core_b.close()


def test_reader_within_the_window_keeps_serving_its_cache(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    core_a, bus_a = _core(url, keep_rows=1000)
    core_b, _ = _core(url, keep_rows=1000)
    try:
        reader, writer, peer = core_a.agent("reader"), core_b.agent("writer"), core_b.agent("peer")
        writer.write("plan", "v1")
        assert reader.read("plan") == "v1"
        for i in range(40):
            peer.read("noise", None)
            writer.write("noise", i, blind=True)
        bus_a.poll()  # nothing missed, nothing about "plan": the cached copy is still current
        assert reader.read("plan") == "v1"
        assert reader.stats.hits == 1
    finally:
        core_a.close()
        core_b.close()
