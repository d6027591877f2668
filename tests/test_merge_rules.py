"""The merge rules of docs/merge.md, one by one (pure functions: no engine)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccs import CoherenceAdapterCore
from ccs.merge import MergeConflict, merge_json, merge_text, merge_values
from ccs.protocol.errors import InvalidArgument

BASE = "a\nb\nc\nd\ne\n"


def test_text_disjoint_changes_merge():
    assert merge_text(BASE, BASE.replace("b", "B"), BASE.replace("d", "D")) == "a\nB\nc\nD\ne\n"


def test_text_identical_changes_are_taken_once():
    both = BASE.replace("c", "C")
    assert merge_text(BASE, both, both) == both
    assert merge_text(BASE, both.replace("a", "A"), both) == "A\nb\nC\nd\ne\n"


def test_text_same_line_conflicts_with_its_region():
    with pytest.raises(MergeConflict) as refused:
        merge_text(BASE, BASE.replace("c", "their c"), BASE.replace("c", "your c"))
    assert refused.value.details["regions"] == [
        {"at": "line 3", "base": "c\n", "theirs": "their c\n", "yours": "your c\n"}]


def test_text_adjacent_lines_conflict():
    with pytest.raises(MergeConflict):
        merge_text(BASE, BASE.replace("b", "B"), BASE.replace("c", "C"))


def test_text_two_appends_at_the_end_conflict():
    with pytest.raises(MergeConflict):
        merge_text(BASE, BASE + "theirs\n", BASE + "yours\n")


def test_json_disjoint_and_nested_keys_merge():
    base = {"a": 1, "n": {"x": 1, "y": 1}}
    theirs = {"a": 2, "n": {"x": 2, "y": 1}}
    yours = {"a": 1, "b": 3, "n": {"x": 1, "y": 1, "z": 3}}
    assert merge_json(base, theirs, yours) == {"a": 2, "b": 3, "n": {"x": 2, "y": 1, "z": 3}}


def test_json_same_key_different_values_conflicts_with_its_path():
    with pytest.raises(MergeConflict) as refused:
        merge_json({"n": {"x": 1}}, {"n": {"x": 2}}, {"n": {"x": 3}})
    assert refused.value.details["regions"] == [{"at": "$.n.x", "base": 1, "theirs": 2, "yours": 3}]


def test_json_delete_against_modify_conflicts_and_both_deletes_agree():
    with pytest.raises(MergeConflict) as refused:
        merge_json({"a": 1, "b": 1}, {"b": 1}, {"a": 2, "b": 1})
    assert refused.value.details["regions"][0]["theirs"] == "<absent>"
    assert merge_json({"a": 1, "b": 1}, {"b": 1}, {"b": 1, "c": 1}) == {"b": 1, "c": 1}


def test_json_lists_are_atomic():
    base = {"l": [1, 2]}
    assert merge_json(base, {"l": [1, 2, 3]}, base) == {"l": [1, 2, 3]}
    assert merge_json(base, {"l": [0]}, {"l": [0]}) == {"l": [0]}  # identical changes agree
    with pytest.raises(MergeConflict):
        merge_json(base, {"l": [1, 2, 3]}, {"l": [0, 1, 2]})  # no element-wise merge


def test_json_values_of_different_types_are_different():
    with pytest.raises(MergeConflict):
        merge_json({"v": 0}, {"v": 1}, {"v": True})
    with pytest.raises(MergeConflict):
        merge_json({"v": 0}, {"v": 1}, {"v": 1.0})


def test_bytes_merge_as_utf8_text_and_binary_is_atomic():
    assert merge_values("bytes", BASE.encode(), BASE.replace("a", "A").encode(),
                        BASE.replace("e", "E").encode(), "auto") == b"A\nb\nc\nd\nE\n"
    with pytest.raises(MergeConflict):
        merge_values("bytes", b"\xff\x00", b"\xff\x01", b"\xff\x02", "auto")
    assert merge_values("bytes", b"\xff\x00", b"\xff\x01", b"\xff\x00", "auto") == b"\xff\x01"


def test_deleted_since_conflicts_unless_unchanged():
    with pytest.raises(MergeConflict):
        merge_values("str", "x\n", None, "y\n", "auto")
    assert merge_values("str", "x\n", None, "x\n", "auto") is None


def test_a_merge_that_is_neither_auto_nor_a_function_is_refused_and_nothing_written(core):
    a = core.agent("a")
    a.write("doc", "x\n")
    with pytest.raises(InvalidArgument):
        a.write("doc", "y\n", merge="ours")
    with pytest.raises(InvalidArgument):
        a.write("doc", "y\n", merge="auto", blind=True)  # blind skips the check merge answers
    assert a.read("doc") == "x\n"


def test_a_write_that_is_not_refused_reports_no_merge():
    with CoherenceAdapterCore("memory://") as core:
        a = core.agent("a")
        a.write("doc", "x\n")
        v = a.write("doc", "y\n", merge="auto")
        assert v == 2 and v.merged is False and v.base_version == 1


@settings(max_examples=200, deadline=None)
@given(st.integers(4, 30), st.data())
def test_text_merge_keeps_every_disjoint_edit_and_refuses_overlaps(n, data):
    """Edits of lines at least two apart (an unchanged line between them) on the two sides always
    merge, and the merge is exactly base with both sides' edits; two different edits of one line
    always conflict."""
    base = [f"line {i}\n" for i in range(n)]
    spots: list[int] = []
    for s in sorted(data.draw(st.sets(st.integers(0, n - 1)))):
        if not spots or s - spots[-1] >= 2:  # keep an unchanged line between two edits
            spots.append(s)
    sides = data.draw(st.lists(st.booleans(), min_size=len(spots), max_size=len(spots)))
    theirs, yours, both = list(base), list(base), list(base)
    for spot, mine in zip(spots, sides, strict=True):
        (yours if mine else theirs)[spot] = both[spot] = f"line {spot} by {'yours' if mine else 'theirs'}\n"
    assert merge_text("".join(base), "".join(theirs), "".join(yours)) == "".join(both)
    if spots:
        theirs[spots[0]], yours[spots[0]] = "theirs\n", "yours\n"
        with pytest.raises(MergeConflict):
            merge_text("".join(base), "".join(theirs), "".join(yours))
