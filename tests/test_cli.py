import json

from ccs import CoherenceAdapterCore, GrantReclaimed, ManualClock
from ccs.cli.main import main


def test_status_and_sweep_on_a_sqlite_store(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/state.db"
    # An agent whose clock says 1970: its heartbeat deadline is long past in real time.
    core = CoherenceAdapterCore(url, clock=ManualClock(start=1000.0))
    a, b = core.agent("a"), core.agent("b")
    a.write("plan.md", "x")
    b.read("plan.md")
    a.acquire("notes")

    assert main(["status", "--engine", url, "--json"]) == 0
    rows = {r["artifact"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["plan.md"]["views"] == {"a": "S", "b": "S"} and rows["plan.md"]["version"] == 1
    assert rows["notes"]["owner"] == "a" and rows["notes"]["views"] == {"a": "E"}

    assert main(["sweep", "--engine", url]) == 0
    out = capsys.readouterr().out
    assert "reclaimed 'notes' from a (epoch 0 -> 1)" in out and "1 grant(s) reclaimed" in out

    try:
        a.write("notes", "late")
    except GrantReclaimed as err:
        assert err.current_epoch == 1
    else:
        raise AssertionError("a write from a reclaimed grant landed")
    core.close()


def test_bench_writes_its_tables_into_the_readme_markers(tmp_path):
    from ccs.cli.bench import README_END, README_START, update_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{README_START}\nold table\n{README_END}\noutro\n")
    update_readme(readme, "| new | table |\n")
    text = readme.read_text()
    assert "old table" not in text
    assert f"{README_START}\n| new | table |\n{README_END}" in text
    assert text.startswith("intro\n") and text.endswith("outro\n")


def test_status_never_creates_a_store(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/typo.db"
    assert main(["status", "--engine", url]) == 1
    assert main(["sweep", "--engine", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ccs: error [store_not_found]: no store at ") and "hint:" in err
    assert not (tmp_path / "typo.db").exists()


def test_typed_errors_are_one_line_with_a_hint(tmp_path, capsys):
    assert main(["status", "--engine", "nosuch://"]) == 1
    assert main(["simulate", "no-such-scenario"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "ccs: error [unknown_engine]: unknown engine 'nosuch' in 'nosuch://'"
    assert err[2].startswith("ccs: error [invalid_scenario]: no scenario file 'no-such-scenario'; "
                             "built-in scenarios: ")
    assert err[1].startswith("  hint: ") and err[3].startswith("  hint: ")
