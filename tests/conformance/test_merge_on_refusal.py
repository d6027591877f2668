"""Merge on refusal, on every engine: disjoint edits all land, overlapping ones are refused whole.

Each writer is an agent of its own core (its own coordinator and connections, as another
process would have), started together on a barrier so that all read the same version and all but
one are refused as stale. The history is checked from the engine's own audit log and the
versions it retains: every version is committed once, and each contains every edit of the one
before it (no merge dropped a committed edit).
"""

from __future__ import annotations

import pytest

from ccs import Limits, StaleView
from ccs.merge import MergeBaseUnavailable, MergeConflict
from together import together

WRITERS = 5


def _doc(n: int) -> str:
    # one line per writer, each between unchanged lines (edits of adjacent lines conflict)
    return "".join(f"section {i}: todo\n---\n" for i in range(n))


def _race(store, n, edit, **write_kw):
    """``n`` agents read the artifact, then all at once each writes ``edit(i, value)``."""
    agents = [store.core().agent(f"w{i}") for i in range(n)]
    values = [edit(i, a.read("doc")) for i, a in enumerate(agents)]
    return together(n, lambda i: agents[i].write("doc", values[i], **write_kw))


def _committed_versions(coord, aid):
    return sorted(e.version for e in coord.audit(aid) if e.outcome == "committed")


def test_disjoint_text_edits_all_land_by_merge(store):
    store.core().agent("seed").write("doc", _doc(WRITERS))
    results = _race(store, WRITERS, lambda i, text: text.replace(f"section {i}: todo",
                                                                 f"section {i}: done by w{i}"),
                    merge="auto", merge_retries=4 * WRITERS)
    assert all(isinstance(r, int) for r in results), results
    assert sorted(results) == list(range(2, WRITERS + 2))  # every writer landed, one version each
    assert sum(r.merged for r in results) >= 1  # all read v1: only the first could land unmerged
    final = store.core().agent("reader").read("doc")
    for i in range(WRITERS):
        assert f"section {i}: done by w{i}\n" in final
    coord = store.coordinator()
    assert _committed_versions(coord, "doc") == list(range(1, WRITERS + 2))
    # no lost update: each version keeps every edit of the version before it
    done = set()
    for v in range(2, WRITERS + 2):
        text = coord.content_at("doc", v).decode()
        now = {i for i in range(WRITERS) if f"done by w{i}" in text}
        assert done <= now and len(now) == len(done) + 1, (v, done, now)
        done = now


def test_overlapping_edits_refused_and_nothing_written(store):
    store.core().agent("seed").write("doc", _doc(3))
    results = _race(store, 3, lambda i, text: text.replace("section 1: todo", f"section 1: w{i}'s"),
                    merge="auto")
    landed = [i for i, r in enumerate(results) if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, MergeConflict)]
    assert len(landed) == 1 and len(refused) == 2, results
    winner = landed[0]
    assert results[winner] == 2 and not results[winner].merged
    for err in refused:
        assert err.code == "merge_conflict" and err.current_version == 2
        assert err.details["base_version"] == 1
        (region,) = err.details["regions"]
        assert region["theirs"] == f"section 1: w{winner}'s\n" and region["base"] == "section 1: todo\n"
    final = store.core().agent("reader").read("doc")
    assert f"section 1: w{winner}'s" in final
    assert _committed_versions(store.coordinator(), "doc") == [1, 2]  # the losers wrote nothing


def test_disjoint_json_keys_all_land_by_merge(store):
    store.core().agent("seed").write("cfg", {"owner": "ops", "limits": {"cpu": 1}})
    agents = [store.core().agent(f"w{i}") for i in range(WRITERS)]
    bases = [a.read("cfg") for a in agents]
    values = [dict(b, **{f"k{i}": i}, limits=dict(b["limits"], **{f"r{i}": i}))
              for i, b in enumerate(bases)]
    out = together(WRITERS, lambda i: agents[i].write("cfg", values[i], merge="auto",
                                                      merge_retries=4 * WRITERS))
    assert sorted(out) == list(range(2, WRITERS + 2))
    final = store.core().agent("reader").read("cfg")
    assert final == {"owner": "ops", **{f"k{i}": i for i in range(WRITERS)},
                     "limits": {"cpu": 1, **{f"r{i}": i for i in range(WRITERS)}}}


def test_json_same_key_changed_both_sides_is_a_conflict(store):
    a, b = store.core().agent("a"), store.core().agent("b")
    a.write("cfg", {"owner": "ops", "n": 1})
    seen = b.read("cfg")
    a.write("cfg", {"owner": "dev", "n": 1})
    with pytest.raises(MergeConflict) as refused:
        b.write("cfg", dict(seen, owner="qa"), merge="auto")
    assert refused.value.details["regions"] == [
        {"at": "$.owner", "base": "ops", "theirs": "dev", "yours": "qa"}]
    assert store.core().agent("c").read("cfg") == {"owner": "dev", "n": 1}


def test_merge_uses_the_cached_base_even_when_the_engine_dropped_it(store):
    limits = Limits(retain_versions=1)
    a, b = store.core(limits=limits).agent("a"), store.core(limits=limits).agent("b")
    b.write("doc", _doc(2))
    text = a.read("doc")
    b.read("doc")
    for n in range(3):  # v1 falls out of the retained versions; gc deletes its content
        b.read("doc")
        b.write("doc", f"section 0: todo\n---\nsection 1: pass {n}\n---\n")
    store.coordinator().gc(min_age=0)
    assert store.coordinator().content_at("doc", 1) is None
    v = a.write("doc", text.replace("section 0: todo", "section 0: a"), merge="auto")
    assert v.merged and v.base_version == 1 and v == 5
    assert store.core().agent("c").read("doc") == "section 0: a\n---\nsection 1: pass 2\n---\n"


def test_merge_without_the_base_fails_closed(store):
    limits = Limits(retain_versions=1)
    b, c = store.core(limits=limits).agent("b"), store.core(limits=limits).agent("c")
    b.write("doc", _doc(2))
    for n in range(3):
        b.read("doc")
        b.write("doc", f"section 0: todo\n---\nsection 1: pass {n}\n---\n")
    store.coordinator().gc(min_age=0)
    # c never read version 1; it claims to have derived its write from it
    with pytest.raises(MergeBaseUnavailable) as refused:
        c.commit_cas("doc", 1, _doc(2).replace("section 0: todo", "section 0: c"), merge="auto")
    assert refused.value.details["base_version"] == 1 and refused.value.current_version == 4
    assert _committed_versions(store.coordinator(), "doc") == [1, 2, 3, 4]


def test_commit_cas_merges_from_a_retained_base(store):
    a, b = store.core().agent("a"), store.core().agent("b")
    a.write("doc", _doc(2))
    a.write("doc", a.read("doc").replace("section 1: todo", "section 1: a"))
    # b never read: it names version 1 (retained by the engine) as the base of its change
    v = b.commit_cas("doc", 1, _doc(2).replace("section 0: todo", "section 0: b"), merge="auto")
    assert v == 3 and v.merged and v.theirs_version == 2
    assert store.core().agent("c").read("doc") == "section 0: b\n---\nsection 1: a\n---\n"


def test_merge_function_decides(store):
    a, b = store.core().agent("a"), store.core().agent("b")
    a.write("tags", ["x"])
    seen = b.read("tags")
    a.write("tags", ["x", "y"])

    def union(base, theirs, yours):
        return sorted(set(theirs) | set(yours))

    assert b.write("tags", [*seen, "z"], merge=union) == 3
    assert store.core().agent("c").read("tags") == ["x", "y", "z"]

    def refuse(base, theirs, yours):
        raise MergeConflict("tags are curated by hand", regions=[{"at": "$", "base": base}])

    seen = b.read("tags")
    a.reacquire("tags")
    a.write("tags", ["q"])
    with pytest.raises(MergeConflict, match="curated by hand"):
        b.write("tags", [*seen, "w"], merge=refuse)
    assert store.core().agent("c").read("tags") == ["q"]


def test_never_read_write_is_not_merged(store):
    a, b = store.core().agent("a"), store.core().agent("b")
    a.write("doc", "a's\n")
    with pytest.raises(StaleView):  # b expected the artifact absent: there is no base to merge
        b.write("doc", "b's\n", merge="auto")
    assert store.core().agent("c").read("doc") == "a's\n"
