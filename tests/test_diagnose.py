"""`ccs diagnose module:graph`: real, unmodified graphs imported from the current directory; the
fan-out get -> think (barrier) -> put(n+1) on one key is a hazard, the same on disjoint keys is
clean; the HTML report renders in headless Chromium with the hazard table in its DOM."""

from __future__ import annotations

import json
import sys

import pytest

from ccs.cli.diagnose import main as diagnose_script
from ccs.cli.main import main
from chromium import CHROMIUM, rendered_dom
from race_graphs import SOURCE

N = 6


@pytest.fixture
def graphs(tmp_path, monkeypatch):
    """A user's graph module in the current directory (a fresh module name per test)."""
    name = f"user_graphs_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{name}.py").write_text(SOURCE)
    (tmp_path / "input.json").write_text('{"outcomes": []}')
    monkeypatch.chdir(tmp_path)
    yield name
    sys.modules.pop(name, None)


def diagnose(capsys, *args):
    code = main(["diagnose", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_fan_out_on_one_key_is_a_hazard(graphs, capsys):
    code, out, _ = diagnose(capsys, f"{graphs}:hazard", "--input", "input.json", "--json")
    assert code == 1
    report = json.loads(out)
    (key,) = report["keys"]
    assert key["key"] == "counters/n" and key["pattern"] == "parallel branches"
    assert key["writers"] == [f"w{i}" for i in range(N)]
    assert len(key["lost_updates"]) == N - 1  # N increments, one survives
    assert all(u["derived_from"] == 0 for u in key["lost_updates"])
    assert key["needs_ccsstore"] and key["needs_update"] and key["read_modify_write"]
    assert report["needs_ccsstore"] == ["counters/n"] and report["needs_update"] == ["counters/n"]
    assert "CCSStore" in key["recommendation"] and "store.update" in key["recommendation"]


def test_builder_and_own_store_are_wrapped_unmodified(graphs, capsys):
    code, out, _ = diagnose(capsys, f"{graphs}:hazard_builder", "--input", "input.json", "--quiet")
    assert code == 1 and out.count("\n") == 1 and "1 key(s) with hazards" in out
    code, out, _ = diagnose(capsys, f"{graphs}:hazard_own_store", "--input", "input.json", "--json")
    assert code == 1
    lost = json.loads(out)["keys"][0]["lost_updates"]
    assert len(lost) == N - 1 and all(u["derived_from"] == 1 for u in lost)  # the item existed
    module = sys.modules[graphs]
    assert module.own.get(("counters",), "n").value == {"n": 42}  # ran on the graph's own store
    assert module.hazard_own_store.store is module.own  # and the graph object is unchanged


def test_async_nodes_run_under_ainvoke(graphs, capsys):
    code, out, _ = diagnose(capsys, f"{graphs}:async_hazard", "--json", "--runs", "2")
    assert code == 1
    (key,) = json.loads(out)["keys"]
    assert key["writers"] == [f"a{i}" for i in range(N)] and key["pattern"] == "parallel branches"
    assert len(key["lost_updates"]) == 2 * (N - 1)


def test_sequential_writers_are_shared_and_clean(graphs, capsys):
    code, out, _ = diagnose(capsys, f"{graphs}:sequential", "--json")
    assert code == 0
    (key,) = json.loads(out)["keys"]
    assert key["pattern"] == "shared" and key["writers"] == ["planner", "reviewer"]
    assert not key["lost_updates"] and not key["needs_ccsstore"] and not key["needs_update"]
    assert key["recommendation"].startswith("several writers, one at a time")


def test_blind_puts_from_parallel_branches_lose_updates(graphs, capsys):
    code, out, _ = diagnose(capsys, f"{graphs}:blind", "--json")
    assert code == 1
    (key,) = json.loads(out)["keys"]
    assert key["pattern"] == "parallel branches" and not key["read_modify_write"]
    assert len(key["lost_updates"]) == 2 and all(u["derived_from"] is None for u in key["lost_updates"])
    assert key["needs_ccsstore"] and not key["needs_update"]
    assert "blind puts from parallel branches" in key["recommendation"]


def test_disjoint_keys_are_clean(graphs, capsys):
    code, out, _ = diagnose(capsys, f"{graphs}:disjoint", "--input", "input.json", "--runs", "2")
    assert code == 0
    assert out.strip().splitlines()[-1].endswith("no hazards found (24 operations, 6 keys, 2 run(s))")
    assert out.count("single writer") == N


def test_divergent_reads_are_reported(graphs, capsys):
    code, out, _ = diagnose(capsys, f"{graphs}:divergent", "--json")
    assert code == 1
    (key,) = json.loads(out)["keys"]
    assert key["pattern"] == "single writer" and not key["lost_updates"]
    assert [(r["version"], r["agents"]) for r in key["divergent_reads"]] == [(0, ["early"]), (1, ["late"])]
    assert key["needs_ccsstore"] and not key["needs_update"]


def test_terminal_summary_names_lost_writes_and_the_fix(graphs, capsys, tmp_path):
    code, out, _ = diagnose(capsys, f"{graphs}:hazard", "--input", "input.json",
                            "--record", tmp_path / "ops.jsonl")
    assert code == 1
    assert "counters/n                       parallel branches" in out
    assert out.count("  lost: version ") == N - 1 and "from version 0" in out
    assert "use CCSStore for: counters/n" in out
    assert "write with store.update(namespace, key, fn): counters/n" in out
    # the kept recording replays with the same verdict
    assert main(["replay", str(tmp_path / "ops.jsonl"), "--quiet"]) == 1
    assert "no_lost_write 5" in capsys.readouterr().out


@pytest.mark.parametrize("args, code_, needle", [
    (["nomodule_xyz:app"], "bad_graph", "cannot import 'nomodule_xyz'"),
    (["{mod}"], "bad_graph", "is not module:attr"),
    (["{mod}:nope"], "bad_graph", "has no attribute 'nope'"),
    (["{mod}:not_a_graph"], "bad_graph", "int is neither a compiled LangGraph graph nor a StateGraph"),
    (["{mod}:hazard", "--input", "missing.json"], "bad_input", "cannot read missing.json"),
    (["{mod}:hazard", "--input", "{mod}.py"], "bad_input", "not JSON"),
    (["{mod}:fails"], "graph_failed", "RuntimeError: boom"),
    (["{mod}:disjoint", "--html", "no/such/dir/r.html"], "unwritable_output", "no/such/dir/r.html"),
    (["{mod}:disjoint", "--record", "no/such/dir/ops.jsonl"], "unwritable_output", "no/such/dir/ops.jsonl"),
])
def test_bad_input_exits_2_with_one_typed_line(graphs, capsys, args, code_, needle):
    code, out, err = diagnose(capsys, *(a.format(mod=graphs) for a in args))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"ccs: error [{code_}]: ") and needle in err


def test_progress_lines_on_stderr_unless_quiet(graphs, capsys):
    code, _, err = diagnose(capsys, f"{graphs}:disjoint", "--runs", "2", "--progress-every", "0")
    assert code == 0 and "ccs: run 1 of 2" in err and "ccs: run 2 of 2" in err
    code, _, err = diagnose(capsys, f"{graphs}:disjoint", "--progress-every", "0", "--quiet")
    assert code == 0 and err == ""


def test_console_script_is_the_same_command(graphs, capsys):
    assert diagnose_script([f"{graphs}:disjoint", "--quiet"]) == 0
    assert diagnose_script([f"{graphs}:hazard", "--quiet"]) == 1
    assert diagnose_script([f"{graphs}:nope"]) == 2
    assert capsys.readouterr().err.startswith("ccs-diagnose: error [bad_graph]: ")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/services.sh installs it)")
def test_html_report_renders_the_hazard_table(graphs, capsys, tmp_path):
    report = tmp_path / "report.html"
    code, out, _ = diagnose(capsys, f"{graphs}:hazard", "--input", "input.json", "--html", report)
    assert code == 1 and f"HTML report: {report}" in out
    html = report.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html  # self-contained
    dom = rendered_dom(report, tmp_path / "profile")
    table = dom[dom.index('<table id="hazards">'):]
    table = table[:table.index("</table>")]
    assert "<code>counters/n</code>" in table and "parallel branches" in table
    assert table.count(" overwritten by ") == N - 1
    assert 'id="verdict">1 key(s) with hazards' in dom

    clean = tmp_path / "clean.html"
    assert diagnose(capsys, f"{graphs}:disjoint", "--html", clean, "--quiet")[0] == 0
    dom = rendered_dom(clean, tmp_path / "profile")
    assert 'id="hazards"' not in dom and 'id="verdict">no hazards found' in dom
    assert dom.count('<tr class="hazard">') == 0 and dom.count("single writer") == N


def test_no_recording_is_left_behind(graphs, capsys, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert diagnose(capsys, f"{graphs}:disjoint", "--quiet")[0] == 0
    assert diagnose(capsys, f"{graphs}:fails")[0] == 2
    assert list((tmp_path / "tmp").iterdir()) == []
