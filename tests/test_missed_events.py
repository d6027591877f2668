"""A copy whose invalidation never arrived is not served as fresh once the gap shows.

Invalidations ride a bus that can lose them (the SQLite events table is trimmed by publishers,
networked buses drop messages while disconnected). Every event carries its artifact's ``seq``; a
client that sees a later event than it expected revalidates copies older than the missing ones,
including when the missing ones are the first events of that artifact it would have heard.
"""

from __future__ import annotations

from ccs import CoherenceAdapterCore, failpoints
from ccs.backends import open_backend
from ccs.bus.sqlite import SqliteBus


def test_copy_whose_invalidation_was_trimmed_away_is_revalidated(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    backend = open_backend(url)
    bus = SqliteBus(backend, interval=0)  # this process polls by hand: no timing involved
    with CoherenceAdapterCore(backend, bus=bus) as here, CoherenceAdapterCore(url) as there:
        reader, writer, editor = here.agent("reader"), there.agent("writer"), there.agent("editor")
        writer.write("x", "v1")
        editor.read("x")  # downgrades writer over there: reader's read below publishes nothing
        assert reader.read("x") == "v1"
        writer.write("x", "v2")  # invalidates reader's copy...
        backend.trim_events(backend.last_event_seq())  # ...but the row is trimmed before a poll
        editor.write_cas("x", lambda v: "v3")  # later events of x, none addressed to reader
        bus.poll()
        assert reader.read("x") == "v3"
        assert reader.stats.invalidations == 0  # it never heard its own invalidation


def test_copy_newer_than_the_missed_events_stays_valid(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    backend = open_backend(url)
    bus = SqliteBus(backend, interval=0)
    with CoherenceAdapterCore(backend, bus=bus) as here, CoherenceAdapterCore(url) as there:
        reader, writer, editor = here.agent("reader"), there.agent("writer"), there.agent("editor")
        writer.write("x", "v1")
        editor.read("x")
        with failpoints.armed({"bus.publish": lambda events: "drop"}):
            writer.write("x", "v2")  # its event is lost on the way: no row, a gap in x's seq
        assert reader.read("x") == "v2"  # read after the missed event: its copy includes it
        reads = reader.stats.misses + reader.stats.not_modified
        editor.read("x")  # downgrades writer: an event addressed to writer only
        bus.poll()
        assert reader.read("x") == "v2" and reader.stats.misses + reader.stats.not_modified == reads


def test_eager_prefetch_older_than_a_missed_event_is_not_installed(tmp_path):
    """eager fetches the new version when an invalidation arrives; if a later invalidation is
    lost, that prefetched copy is older than the current version and must not be served."""
    url = f"sqlite:///{tmp_path}/state.db"
    backend = open_backend(url)
    bus = SqliteBus(backend, interval=0)
    with CoherenceAdapterCore(backend, "eager", bus=bus) as here, CoherenceAdapterCore(url) as there:
        reader, writer, editor = here.agent("reader"), there.agent("writer"), there.agent("editor")
        writer.write("x", "v1")
        editor.read("x")
        assert reader.read("x") == "v1"
        writer.write("x", "v2")
        bus.poll()  # reader hears it and prefetches v2 (installed at its next read)
        writer.write("x", "v3")  # its invalidation to reader is lost
        backend.trim_events(backend.last_event_seq())
        editor.write_cas("x", lambda v: "v4")  # later events of x, none addressed to reader
        bus.poll()
        assert reader.read("x") == "v4"
