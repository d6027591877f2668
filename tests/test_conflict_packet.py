"""Conflict packets: what a refusal says to a model, and how it fits a token budget."""

from __future__ import annotations

import json

import pytest

from ccs import CoherenceAdapterCore, Limits, StaleView, VersionConflict
from ccs.merge import MergeConflict
from ccs.tokens.counter import default_counter

DOC = "".join(f"line {i}: some text that an agent wrote\n" for i in range(200))


@pytest.fixture
def pair():
    with CoherenceAdapterCore("memory://") as core:
        yield core.agent("alice"), core.agent("bob")


def _stale(alice, bob, theirs, yours):
    alice.write("doc", DOC)
    bob.read("doc")
    alice.write("doc", theirs)
    with pytest.raises(StaleView) as refused:
        bob.write("doc", yours)
    return refused.value


def test_stale_view_packet_names_base_changes_author_attempt_and_next_call(pair):
    alice, bob = pair
    err = _stale(alice, bob, DOC.replace("line 3:", "line 3 (alice):"),
                 DOC.replace("line 150:", "line 150 (bob):"))
    p = err.conflict_packet()
    assert (p.base_version, p.current_version) == (1, 2)
    assert p.changed_by == [{"version": 2, "agent": "alice", "op": "write", "outcome": "committed"}]
    assert "-line 3: some text" in p.since and "+line 3 (alice): some text" in p.since
    assert "+line 150 (bob): some text" in p.yours and "alice" not in p.yours
    assert "reacquire('doc')" in p.next_call and "merge='auto'" in p.next_call
    assert not p.truncated and p.tokens == default_counter().count(p.text)
    data = json.loads(p.to_json())
    assert data["diff_since_base"] == p.since and data["next_call"] == p.next_call
    assert p.tokens < default_counter().count(DOC) // 5  # far smaller than re-sending the artifact


def test_budget_cuts_diffs_deterministically_with_a_marker(pair):
    alice, bob = pair
    theirs = "".join(f"line {i}: rewritten by alice\n" for i in range(200))
    err = _stale(alice, bob, theirs, DOC.replace("line 0:", "line 0 (bob):"))
    full = err.conflict_packet()
    cut = err.conflict_packet(300)
    assert full.tokens > 1000 and not full.truncated
    assert full.current == theirs and full.since == ""  # every line moved: whole is shorter
    assert cut.truncated and cut.tokens <= 300
    assert "more line(s) cut to fit the token budget]" in cut.current
    assert cut.text.startswith("WRITE REFUSED [stale_view] doc: your write was based on v1")
    assert cut.text.endswith(cut.next_call)  # the header and the next call are never cut
    assert cut.to_json() == err.conflict_packet(300).to_json()  # same refusal, same packet


def test_version_conflict_and_merge_conflict_packets(pair):
    alice, bob = pair
    alice.write("doc", "a\nb\nc\n")
    alice.write("doc", "a\nB\nc\n")
    with pytest.raises(VersionConflict) as refused:
        bob.commit_cas("doc", 1, "a\nb\nC\n")
    p = refused.value.conflict_packet()
    assert p.since == "" and p.current == "a\nB\nc\n"  # a 3-line artifact: whole is shorter
    assert "-c\n+C" in p.yours and "commit_cas('doc', 2" in p.next_call
    with pytest.raises(MergeConflict) as clash:
        bob.commit_cas("doc", 1, "a\nbee\nc\n", merge="auto")
    p = clash.value.conflict_packet()
    assert "@ line 2" in p.regions and "theirs| B" in p.regions and "yours | bee" in p.regions


def test_packet_says_when_the_base_content_is_gone():
    with CoherenceAdapterCore("memory://", limits=Limits(retain_versions=0)) as core:
        alice, bob = core.agent("alice"), core.agent("bob")
        alice.write("doc", "one\n")
        alice.write("doc", "two\n")
        with pytest.raises(VersionConflict) as refused:
            bob.commit_cas("doc", 1, "three\n")  # bob never held version 1
        core.coordinator.gc(min_age=0)
        p = refused.value.conflict_packet()
        assert p.notes == ["The content of version 1 is no longer retained."]
        assert p.since == "" and p.yours == ""


def test_an_error_without_context_still_renders():
    err = StaleView("moved", artifact="doc", current_version=3, base_version=2)
    p = err.conflict_packet(50)
    assert p.text.startswith("WRITE REFUSED [stale_view] doc: your write was based on v2")


def test_content_without_a_final_newline_diffs_line_by_line(pair):
    alice, bob = pair
    long = "".join(f"line {i}\n" for i in range(40))
    alice.write("doc", long + "end")
    bob.read("doc")
    alice.write("doc", long + "end by alice")
    with pytest.raises(StaleView) as refused:
        bob.write("doc", long + "end by bob")
    p = refused.value.conflict_packet()
    assert "+end by alice\n" in p.since and "+end by bob\n" in p.yours


def test_a_bad_budget_is_a_typed_error():
    from ccs.protocol.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        StaleView("moved", artifact="doc", current_version=3).conflict_packet(-1)


def test_a_refusal_with_its_context_still_pickles(tmp_path):
    import pickle

    with CoherenceAdapterCore(f"sqlite:///{tmp_path}/state.db") as core:
        alice, bob = core.agent("alice"), core.agent("bob")
        err = _stale(alice, bob, DOC + "alice\n", DOC + "bob\n")
        assert err.context is not None
        copy = pickle.loads(pickle.dumps(err))  # e.g. back from a worker process
    assert type(copy) is StaleView and copy.context is None
    assert copy.to_dict() == err.to_dict()
