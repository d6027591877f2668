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


# --- the first hour: conventions of the ecosystem --------------------------------------------

import os  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
from importlib.metadata import version  # noqa: E402

import pytest  # noqa: E402

from ccs.cli.demo import describe_engine  # noqa: E402
from ccs.cli.main import EXAMPLES, build_parser  # noqa: E402


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"ccs {version('agent-coherence')}"


def test_every_read_only_command_has_json(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/state.db"
    assert main(["demo", "--engine", url]) == 0
    capsys.readouterr()
    assert json.loads(_out(capsys, ["status", "--engine", url, "--json"]))[0]["artifact"] == "plan.md"
    assert json.loads(_out(capsys, ["sweep", "--engine", url, "--json"])) == []
    result = json.loads(_out(capsys, ["simulate", "volatility-050", "--strategy", "lazy", "--json"]))
    assert set(result["runs"]) == {"lazy"}


def _out(capsys, argv) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def test_help_lists_the_choices(capsys):
    from ccs.sim import STRATEGIES, builtin_scenarios
    for argv in (["--help"], *([c, "--help"] for c in ("demo", "status", "sweep", "simulate", "bench"))):
        with pytest.raises(SystemExit):
            main(argv)
        text = " ".join(capsys.readouterr().out.split())
        assert "examples:" in text, argv
        if argv[0] in ("demo", "status", "sweep"):
            assert "sqlite:////" in text and "rediss://" in text and "postgresql://" in text, argv
        if argv[0] == "simulate":
            assert all(name in text for name in builtin_scenarios()), text
            assert all(name in text for name in STRATEGIES), text
    assert build_parser().prog == "ccs"


def test_help_examples_work_from_any_directory(tmp_path, monkeypatch, capsys):
    """Every example line of every --help runs from an unrelated directory (services skipped
    when not configured, the bench kept short, /tmp replaced by a private directory)."""
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    (workdir / "my-scenario.yaml").write_text(
        "name: mine\nticks: 10\nagents: 2\nvolatility: 0.3\nartifacts: [{id: a.md, tokens: 50}]\n")
    ran = 0
    for text in EXAMPLES.values():
        for line in re.findall(r"^  (ccs .*?)(?:\s+#.*)?$", text, flags=re.M):
            argv = shlex.split(line)[1:]
            if "<command>" in line or argv[0] == "bench":
                continue
            if any(a.startswith(("redis://", "postgresql://")) for a in argv):
                continue  # needs a server; the same commands run on SQLite above
            argv = [a.replace("/tmp/", f"{tmp_path}/") for a in argv]
            if argv[0] in ("status", "sweep") and not (tmp_path / "ccs-demo.db").exists():
                assert main(["demo", "--engine", f"sqlite:///{tmp_path}/ccs-demo.db"]) == 0
            assert main(argv) == 0, line
            ran += 1
    capsys.readouterr()
    assert ran >= 10


def test_demo_twice_on_one_sqlite_file(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/kept.db"
    assert main(["demo", "--engine", url]) == 0
    assert main(["demo", "--engine", url]) == 0
    out = capsys.readouterr().out
    assert out.count("REFUSED, nothing was written") == 2 and "Traceback" not in out
    assert "-> version 4" in out  # the second run continues from the first's versions


def test_demo_says_what_the_engine_is(capsys):
    assert "no server needed" not in describe_engine("redis://127.0.0.1:6379/0", False)
    assert "no server needed" not in describe_engine("postgresql://u@h/db", False)
    assert "no server needed" in describe_engine("sqlite:////tmp/x.db", False)
    redis_url = os.environ.get("CCS_TEST_REDIS_URL")
    if redis_url:
        sep = "&" if "?" in redis_url else "?"
        assert main(["demo", "--engine", f"{redis_url}{sep}prefix=ccs-demo-{os.getpid()}"]) == 0
        first = capsys.readouterr().out.splitlines()[0]
        assert first.startswith("Engine: redis://") and "no server needed" not in first


def test_mcp_help_names_itself_ccs_mcp(capsys):
    with pytest.raises(SystemExit):
        main(["mcp", "--help"])
    assert capsys.readouterr().out.startswith("usage: ccs mcp ")


def test_status_hides_internal_records(tmp_path, capsys):
    from ccs.adapters import CCSStore, CoherentVolume

    url = f"sqlite:///{tmp_path}/state.db"
    (tmp_path / "ws").mkdir()
    vol = CoherentVolume(tmp_path / "ws", engine=url)
    vol.write("plan.md", "x")
    vol.close()
    store = CCSStore(engine=url, ttl={"default_ttl": 60})
    store.put(("t",), "k", {"v": 1})
    store.for_agent("reader").get(("t",), "k")  # a TTL refresh: kept in a '~ttl/' side record
    store.close()
    shown = [r["artifact"] for r in json.loads(_out(capsys, ["status", "--engine", url, "--json"]))]
    everything = [r["artifact"] for r in json.loads(_out(capsys, ["status", "--engine", url, "--json",
                                                                  "--all"]))]
    assert "plan.md" in shown and not any(a.startswith(("~", ".ccs/")) for a in shown)
    assert ".ccs/volume" in everything and any(a.startswith("~") for a in everything)
    table = _out(capsys, ["status", "--engine", url])
    assert ".ccs/volume" not in table and "~ttl" not in table


def test_debug_after_the_command_shows_the_traceback(tmp_path):
    with pytest.raises(Exception) as err:
        main(["status", "--engine", f"sqlite:///{tmp_path}/none.db", "--debug"])
    assert getattr(err.value, "code", None) == "store_not_found"
