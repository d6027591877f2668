"""``CoherentVolume.write(..., merge="auto")``: volumes of one workspace (one agent each, on the
workspace's SQLite state and on PostgreSQL and Redis) edit disjoint lines of one file from real
threads at once; every edit lands in the file, and an overlapping edit lands nothing."""

from __future__ import annotations

import pytest

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.merge import MergeConflict
from conformance.conftest import SHARED_ENGINES, Store
from together import together

WRITERS = 4
PLAN = "".join(f"- step {i}: todo\n---\n" for i in range(WRITERS))


@pytest.fixture(params=SHARED_ENGINES)
def engine(request, tmp_path):
    s = Store(request.param, tmp_path)
    yield s
    s.cleanup()


def test_threads_edit_disjoint_lines_of_one_file_and_all_land(engine, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    vols = [CoherentVolume(root, engine=engine.url, agent=f"w{i}") for i in range(WRITERS)]
    vols[0].write("plan.md", PLAN)
    texts = [v.read("plan.md") for v in vols]
    results = together(WRITERS, lambda i: vols[i].write(
        "plan.md", texts[i].replace(f"step {i}: todo", f"step {i}: w{i}"), merge="auto"))
    assert sorted(results) == list(range(2, WRITERS + 2)), results
    assert any(r.merged for r in results)
    on_disk = (root / "plan.md").read_text()
    assert on_disk == "".join(f"- step {i}: w{i}\n---\n" for i in range(WRITERS))
    for v in vols:
        v.close()


def test_overlapping_edit_of_a_file_is_refused_and_the_file_keeps_the_peer_edit(engine, tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    a = CoherentVolume(root, engine=engine.url, agent="a")
    b = CoherentVolume(root, engine=engine.url, agent="b")
    a.write("plan.md", PLAN)
    mine = b.read("plan.md")
    a.write("plan.md", a.read("plan.md").replace("step 0: todo", "step 0: a"))
    with pytest.raises(MergeConflict) as refused:
        b.write("plan.md", mine.replace("step 0: todo", "step 0: b"), merge="auto")
    assert refused.value.details["regions"][0]["theirs"] == "- step 0: a\n"
    assert (root / "plan.md").read_text() == PLAN.replace("step 0: todo", "step 0: a")
    a.close()
    b.close()
