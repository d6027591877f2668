"""A read whose viewed version is superseded and collected between the record read and the content
read looks again, instead of reporting the store as damaged (``corrupt_state``)."""

from __future__ import annotations

import pytest

from ccs import CoherenceAdapterCore, Limits, failpoints
from ccs.protocol.errors import CorruptState


@pytest.mark.parametrize("op", ["read", "reacquire"])
def test_read_superseded_and_collected_mid_read(store, op):
    limits = Limits(retain_versions=0)  # an old version's content is collectable at once
    writer_core, reader_core = store.core(limits=limits), store.core(limits=limits)
    writer, reader = writer_core.agent("writer"), reader_core.agent("reader")
    writer.write("plan", "v1")
    raced = []

    def race(artifact, view):
        if not raced:  # once: a peer commits v2 and a gc removes v1's content
            raced.append(view.version)
            writer.write("plan", "v2", blind=True)
            assert writer_core.coordinator.gc(min_age=0) >= 1

    with failpoints.arm("coordinator.before_fetch", race):
        value = reader.read("plan") if op == "read" else reader.reacquire("plan")
    assert raced == [1] and value == "v2"


def test_content_missing_from_the_current_version_is_still_damage():
    core = CoherenceAdapterCore()
    agent = core.agent("a")
    agent.write("plan", "v1")
    core.coordinator.backend._blobs.pop(core.coordinator.artifact("plan").content.digest)
    with pytest.raises(CorruptState):
        core.agent("b").read("plan")
