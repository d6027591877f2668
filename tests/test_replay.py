"""`ccs replay`: clean histories from real graphs on CCSStore pass; the same graphs on LangGraph's
InMemoryStore (recorded in the same format by RecordingStore) lose updates, and replay catches
every one; injected corruptions trip the invariant they break; bad input exits 2."""

from __future__ import annotations

import json
import sys

import pytest
from langgraph.store.memory import InMemoryStore

from ccs import StaleView
from ccs.adapters import CCSStore
from ccs.adapters.langgraph import read_log
from ccs.adapters.langgraph.recording import RecordingStore
from ccs.cli.main import main
from ccs.cli.replay import main as replay_script
from race_graphs import load

NS = ("counters",)


def _run(store, graph):
    store.put(NS, "n", {"n": 0})
    return graph.compile(store=store).invoke({"outcomes": []})["outcomes"]


@pytest.fixture
def graphs(tmp_path):
    return load(tmp_path, "replay_graphs_mod")


@pytest.fixture
def clean_log(tmp_path, graphs):
    """The fan-out race on CCSStore: one put lands, the others are refused (StaleView)."""
    path = tmp_path / "clean.jsonl"
    store = CCSStore().record_to(path)
    outcomes = _run(store, graphs.make(shared=True, on_conflict=lambda e: isinstance(e, StaleView)))
    assert outcomes.count("landed") == 1 and outcomes.count("conflict") == graphs.N - 1
    store.get(NS, "n")
    store.close()
    return path


@pytest.fixture
def lost_log(tmp_path, graphs):
    """The same graph on InMemoryStore: every put lands, all but one are lost."""
    path = tmp_path / "lost.jsonl"
    store = RecordingStore(InMemoryStore(), path)
    assert _run(store, graphs.make(shared=True)) == ["landed"] * graphs.N
    assert store.get(NS, "n").value == {"n": 1}  # N increments, one survived
    store.close()
    return path


def replay(capsys, *args):
    code = main(["replay", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_history_from_ccsstore_passes_every_invariant(clean_log, capsys):
    code, out, _ = replay(capsys, clean_log, "--quiet")
    assert code == 0, out
    assert out.strip().endswith("clean (single_writer 0, monotonic_versions 0, no_stale_write 0, "
                                "no_lost_write 0, linearizable 0)")
    lines = read_log(clean_log)
    assert sum(x["outcome"] == "conflict" for x in lines) == 5  # the refusals are in the history


def test_clean_history_with_update_and_delete_passes(tmp_path, capsys):
    path = tmp_path / "mixed.jsonl"
    store = CCSStore().record_to(path)
    a, b = store.for_agent("a"), store.for_agent("b")
    a.put(NS, "x", {"v": 1})
    b.get(NS, "x")
    a.put(NS, "x", {"v": 2})
    with pytest.raises(StaleView):
        b.put(NS, "x", {"v": 3})
    b.update(NS, "x", lambda v: {"v": v["v"] + 1})
    a.get(NS, "x")
    a.delete(NS, "x")
    store.for_agent("c").delete(NS, "x")  # blind, the item is already absent
    store.search(NS)
    store.close()
    code, out, _ = replay(capsys, path)
    assert code == 0, out


def test_lost_updates_on_in_memory_store_are_caught(lost_log, capsys):
    code, out, _ = replay(capsys, lost_log, "--json")
    assert code == 1
    verdict = json.loads(out)
    assert not verdict["ok"]
    counts = verdict["invariants"]
    # N=6 puts derived from version 1 land as versions 2..7: five applied over unread versions,
    # five earlier writes lost, and no legal linearization
    assert counts == {"single_writer": 0, "monotonic_versions": 0, "no_stale_write": 5,
                      "no_lost_write": 5, "linearizable": 1}
    lost = [v for v in verdict["violations"] if v["invariant"] == "no_lost_write"]
    for v in lost:
        victim, overwriter = v["operations"]
        assert overwriter["seen"] == 1 and overwriter["version"] == victim["version"] + 1
        assert victim["agent"] != overwriter["agent"] and victim["agent"] in v["message"]
    assert sorted(v["operations"][0]["version"] for v in lost) == [2, 3, 4, 5, 6]


def test_text_output_names_the_operations(lost_log, capsys):
    code, out, _ = replay(capsys, lost_log, "--invariant", "no_stale_write", "--invariant", "linearizable")
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("VIOLATION no_stale_write: lg/[\"counters\",\"n\"]: ")
    assert "derived from version 1" in first
    assert "    line " in out and " put counters/n seen=1 -> v" in out
    assert "VIOLATION linearizable" in out and "no_lost_write" not in out
    assert out.splitlines()[-1].endswith("(no_stale_write 5, linearizable 1)")


def _rewrite(src, dst, fn):
    lines = [json.loads(x) for x in src.read_text().splitlines()]
    dst.write_text("".join(json.dumps(x) + "\n" for x in fn(lines)))
    return dst


def test_injected_violations_trip_their_invariant(clean_log, tmp_path, capsys):
    def puts(lines):
        return [x for x in lines if x["op"] == "put" and x["outcome"] == "ok" and x["agent"] != "default"]

    def double_writer(lines):  # a refused put reported as landed at the same version
        won = puts(lines)[0]
        refused = next(x for x in lines if x["outcome"] == "conflict")
        refused.update(outcome="ok", version=won["version"], error=None)
        return lines

    def backwards(lines):  # one more fresh read by the same caller, back at the initial version
        again = dict(lines[-1], outcome="miss", version=1, seen=1, t=lines[-1]["t"] + 1)
        return [*lines, again]

    def stale_applied(lines):  # a refused put reported as landed over the winner
        won = puts(lines)[0]
        refused = next(x for x in lines if x["outcome"] == "conflict")
        refused.update(outcome="ok", version=won["version"] + 1, error=None)
        return lines

    cases = {"single_writer": double_writer, "monotonic_versions": backwards,
             "no_lost_write": stale_applied}
    for invariant, fn in cases.items():
        path = _rewrite(clean_log, tmp_path / f"{invariant}.jsonl", fn)
        code, out, _ = replay(capsys, path, "--json", "--quiet")
        counts = json.loads(out)["invariants"]
        assert code == 1 and counts[invariant] >= 1, (invariant, counts)
        assert counts["linearizable"] == 1, (invariant, counts)  # the checker agrees every time


def test_a_refusal_without_a_moved_version_is_not_linearizable(clean_log, tmp_path, capsys):
    """A put refused as stale when nothing had committed since its read: the checker catches it."""
    def refuse_first(lines):
        first_put = next(i for i, x in enumerate(lines) if x["op"] == "put" and x["agent"] != "default")
        lines[first_put].update(outcome="conflict", version=None, error={"code": "stale_view"})
        return [x for x in lines if not (x["op"] == "put" and x["outcome"] == "ok"
                                         and x["agent"] != "default")]
    path = _rewrite(clean_log, tmp_path / "refused.jsonl", refuse_first)
    code, out, _ = replay(capsys, path, "--invariant", "linearizable", "--json")
    assert code == 1 and json.loads(out)["invariants"] == {"linearizable": 1}


@pytest.mark.parametrize("content, needle", [
    ('{"t": 1, "agent": "a", "op": "get"}\n', ":1: not a record_to line (missing outcome)"),
    ('{"t": 1, "agent": "a", "op": "get", "outcome": "hit", "artifact": "x", "version": 1}\n'
     "{oops\n{}\n", ":2: not JSON"),
    ('[1, 2]\n', ":1: expected a JSON object"),
    ('{"t": 1, "agent": "a", "op": "frob", "outcome": "ok"}\n', ":1: unknown op 'frob'"),
    ('{"t": 1, "agent": "a", "op": "put", "outcome": "ok", "artifact": "x", "version": -3}\n',
     ":1: 'version' must be a version"),
    ('{"t": NaN, "agent": "a", "op": "get", "outcome": "hit", "artifact": "x", "version": 1}\n',
     ":1: 't' must be a finite number"),
    ('{"t": 1, "agent": "a", "op": "get", "outcome": "hit", "artifact": "x", "namespace": 7}\n',
     ":1: 'namespace' must be a list"),
    ('{"t": 1, "agent": "a", "op": "search", "outcome": "ok", "items": 5}\n', ":1: 'items' must be a list"),
    ('{"t": 1, "agent": "a", "op": "search", "outcome": "ok", "items": [["x", true]]}\n',
     ":1: search items must be [artifact, version] pairs"),
    ('{"t": 1, "agent": "a", "op": "get", "outcome": "hit", "artifact": 3}\n', ":1: get without an artifact"),
    ("[" * 100000 + "]" * 100000 + "\n", ":1: JSON nested too deeply"),
    ("\n\n" + '{"t": 1}' + "\n" + "x" * 10, ":3: not a record_to line"),
])
def test_malformed_line_exits_2_with_one_typed_line(tmp_path, capsys, content, needle):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    code, out, err = replay(capsys, path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("ccs: error [malformed_history]: ")
    assert needle in err and str(path) in err


def test_binary_file_exits_2(tmp_path, capsys):
    path = tmp_path / "bin.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage\n")
    code, _, err = replay(capsys, path)
    assert code == 2 and err.startswith("ccs: error [malformed_history]: ") and "not UTF-8" in err


def test_torn_last_line_is_ignored(clean_log, tmp_path, capsys):
    path = tmp_path / "torn.jsonl"
    path.write_text(clean_log.read_text() + '{"t": 1, "agent": "a", "op')
    assert replay(capsys, path, "--quiet")[0] == 0


def test_unreadable_file_exits_2(tmp_path, capsys):
    for path, needle in ((tmp_path / "missing.jsonl", "No such file"), (tmp_path, "is a directory")):
        code, _, err = replay(capsys, path)
        assert code == 2 and err.count("\n") == 1 and needle in err
        assert err.startswith("ccs: error [")


@pytest.mark.parametrize("args, needle", [
    (["--invariant", "nope"], "invalid choice"),
    (["--budget", "nan"], "expected a number of seconds >= 0"),
    (["--progress-every", "-1"], "expected a number of seconds >= 0"),
])
def test_bad_options_are_usage_errors(clean_log, capsys, args, needle):
    with pytest.raises(SystemExit) as info:
        main(["replay", str(clean_log), *args])
    assert info.value.code == 2
    assert needle in capsys.readouterr().err


def test_quiet_prints_only_the_summary(lost_log, capsys):
    code, out, err = replay(capsys, lost_log, "--quiet")
    assert code == 1 and err == ""
    assert out == ("14 operations on 1 artifact(s): 11 violation(s) (single_writer 0, monotonic_versions 0, "
                   "no_stale_write 5, no_lost_write 5, linearizable 1)\n")


def test_progress_lines_on_stderr_unless_quiet(lost_log, capsys):
    code, _, err = replay(capsys, lost_log, "--progress-every", "0")
    assert code == 1 and "ccs: read 1 lines of" in err and "linearizability: artifact 1 of 1" in err
    code, _, err = replay(capsys, lost_log, "--progress-every", "0", "--quiet")
    assert code == 1 and err == ""


def test_console_script_is_the_same_command(lost_log, clean_log, capsys):
    assert replay_script([str(clean_log), "--quiet"]) == 0
    assert replay_script([str(lost_log), "--quiet"]) == 1
    assert "no_lost_write 5" in capsys.readouterr().out
    assert replay_script([str(lost_log.parent / "nope.jsonl")]) == 2
    assert capsys.readouterr().err.startswith("agent-coherence-replay: error [unreadable_history]: ")


def test_threads_sharing_one_agent_raise_no_false_alarm(tmp_path, capsys):
    """Lines of threads that share one caller identity land out of order; each line names its
    thread, and the time bounds come from that thread's own lines, so a correct history passes."""
    import contextlib
    import random
    import threading

    path = tmp_path / "threads.jsonl"
    store = CCSStore().record_to(path)

    def work(i):
        r = random.Random(i)
        for _ in range(300):
            key = f"k{r.randrange(2)}"
            item = store.get(NS, key)
            with contextlib.suppress(StaleView):
                store.put(NS, key, {"n": (item.value["n"] if item else 0) + 1})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # interleave the threads finely: a hit is then often logged late
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    hits = store.core.agent("default").stats.hits
    store.close()
    lines = read_log(path)
    assert {x["agent"] for x in lines} == {"default"} and len({x["thread"] for x in lines}) == 4
    # no miss is logged as a hit because another thread hit meanwhile (an absent may be a hit)
    logged = sum(x["outcome"] == "hit" for x in lines)
    assert logged <= hits <= logged + sum(x["outcome"] == "absent" for x in lines)
    code, out, _ = replay(capsys, path, "--quiet")
    assert code == 0, out


def test_a_hit_logged_after_a_later_fill_is_placed_from_its_own_version(tmp_path, capsys):
    """Thread b's hit of v1 ran before a's put of v2 but was logged after a's next put (v3), with
    a clock reading later than v2's end. Its read may be placed from when v1 was cached (a's first
    put), not from when the latest logged fill (v3) began: a correct history, no alarm."""
    def line(t, thread, op, seen, version, outcome):
        return {"t": t, "agent": "default", "scope": None, "op": op, "artifact": "lg/k",
                "namespace": ["t"], "key": "k", "seen": seen, "version": version, "outcome": outcome,
                "thread": thread}

    path = tmp_path / "late_hit.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in [
        line(0.5, "a", "get", 0, 0, "absent"),
        line(1.0, "a", "put", 0, 1, "ok"),
        line(2.0, "a", "put", 1, 2, "ok"),
        line(2.3, "a", "get", 2, 2, "hit"),
        line(2.5, "a", "put", 2, 3, "ok"),
        line(2.1, "b", "get", 1, 1, "hit"),
    ]))
    code, out, _ = replay(capsys, path, "--quiet")
    assert code == 0, out
    # a miss reads the coordinator: once b's previous line is after v2's end, v1 is stale there
    path.write_text("".join(json.dumps(x) + "\n" for x in [
        *map(json.loads, path.read_text().splitlines()[:-1]),
        line(2.05, "b", "get", 2, 2, "hit"),
        line(2.1, "b", "get", 1, 1, "miss"),
    ]))
    code, out, _ = replay(capsys, path, "--quiet")
    assert code == 1 and "linearizable 1" in out, out


def test_out_of_time_is_undecided_not_clean(lost_log, capsys):
    code, out, _ = replay(capsys, lost_log, "--invariant", "linearizable", "--budget", "0")
    assert code == 0
    assert "note: linearizability: time budget ran out" in out
    assert out.splitlines()[-1].endswith("no violation found, 1 undecided (--budget) (linearizable 0)")


def test_single_writer_tells_a_blind_delete_of_an_absent_item_from_a_second_writer():
    """A blind delete of an item already absent logs the current version without writing one."""
    from ccs.replay.invariants import run_checks
    from ccs.replay.source import Event

    def ev(line, op, seen, version, agent="a"):
        return Event(line, float(line), agent, None, op, "x", seen, version, "ok")

    fine = [[ev(1, "put", None, 1), ev(2, "delete", 1, 2), ev(3, "delete", None, 2, "b")],
            [ev(1, "delete", None, 0), ev(2, "delete", None, 0, "b")]]
    broken = [[ev(1, "put", None, 1), ev(2, "delete", None, 1, "b")],  # the item was there
              [ev(1, "put", None, 1), ev(2, "put", None, 1, "b")]]
    for events in fine:
        assert run_checks(events).ok, events
    for events in broken:
        assert run_checks(events).counts()["single_writer"] == 1, events
    # the register checker sees versions only (the log has no values, and an expired item reads
    # absent at its version), so of these two it can refute the double put alone
    assert run_checks(broken[1]).counts()["linearizable"] == 1


def test_recording_store_keeps_versions_and_logs_every_operation(tmp_path):
    inner = InMemoryStore()
    inner.put(NS, "old", {"n": 1})  # there before recording: version 1
    path = tmp_path / "rec.jsonl"
    store = RecordingStore(inner, path)
    assert store.get(NS, "old").value == {"n": 1}
    store.put(NS, "old", {"n": 2})
    store.put(NS, "new", {"n": 1})
    assert {i.key for i in store.search(NS)} == {"old", "new"}
    assert store.list_namespaces() == [NS]
    store.delete(NS, "new")
    assert store.get(NS, "new") is None
    store.close()
    lines = read_log(path)
    assert [(x["op"], x["key"], x.get("seen"), x.get("version"), x["outcome"]) for x in lines] == [
        ("get", "old", 1, 1, "miss"), ("put", "old", 1, 2, "ok"), ("put", "new", None, 1, "ok"),
        ("search", None, None, None, "ok"), ("list_namespaces", None, None, None, "ok"),
        ("delete", "new", 1, 2, "ok"), ("get", "new", 2, 2, "absent")]
    assert sorted(map(tuple, lines[3]["items"])) == [
        ('lg/["counters","new"]', 1), ('lg/["counters","old"]', 2)]
    assert all(x["agent"] == "default" and x["scope"] is None and x["thread"] for x in lines)
    assert inner.get(NS, "old").value == {"n": 2}  # the inner store did the work
