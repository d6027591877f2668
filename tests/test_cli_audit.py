"""`ccs log`, `ccs show`, `ccs diff`: what happened to an artifact, read from the engine's log."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ccs import Coordinator, Limits
from ccs.cli.main import main

README = Path(__file__).resolve().parent.parent / "README.md"
ALICE, BOB = "alice@0123456789ab", "bob@ba9876543210"


def run(capsys, argv) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    c = Coordinator(url, limits=Limits(retain_versions=2))
    c.write(ALICE, "plan.md", 0, None, (b"a\nb\n", "str"), commit_id="c1")
    c.write(BOB, "plan.md", 1, 0, (b"a\nB\n", "str"), commit_id="c2")
    with pytest.raises(Exception, match="version 2 was committed since"):
        c.write(ALICE, "plan.md", 1, 0, (b"a\nlate\n", "str"), commit_id="late")
    c.write(ALICE, "plan.md", 2, 0, (b"a\nB\nc\n", "str"), commit_id="c3")
    c.write(BOB, "plan.md", 3, 0, (b"a\nB\nc\nd", "str"), commit_id="c4")
    c.write(BOB, "gone", 0, None, (b"x", "str"), commit_id="g1")
    c.write(BOB, "gone", 1, 0, None, commit_id="g2")
    c.close()
    return url


def test_log_shows_who_changed_what_from_which_base_and_the_refusals(store, capsys):
    code, out, _ = run(capsys, ["log", "plan.md", "--engine", store])
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 5
    assert re.search(r"committed write +alice +v0 -> v1 +epoch 0 +commit c1$", lines[0])
    assert re.search(r"committed write +bob +v1 -> v2 .*commit c2$", lines[1])
    assert re.search(r"refused +write +alice +from v1, at v2 .*\[stale_view\] alice derived", lines[2])
    assert re.search(r"committed write +bob +v3 -> v4 .*commit c4$", lines[4])
    entries = json.loads(run(capsys, ["log", "plan.md", "--engine", store, "--json"])[1])
    assert [(e["outcome"], e["agent"], e["base_version"], e["version"], e["code"], e["commit_id"])
            for e in entries][:3] == [("committed", ALICE, 0, 1, "", "c1"),
                                      ("committed", BOB, 1, 2, "", "c2"),
                                      ("refused", ALICE, 1, 2, "stale_view", "late")]
    every = run(capsys, ["log", "--engine", store, "--limit", "2"])[1].splitlines()
    assert len(every) == 2 and every[-1].startswith("gone ") and "deleted" in every[-1]


def test_show_reads_retained_versions_and_names_the_range_otherwise(store, capsys):
    assert run(capsys, ["show", "plan.md@4", "--engine", store])[1] == "a\nB\nc\nd"
    assert run(capsys, ["show", "plan.md@2", "--engine", store])[1] == "a\nB\n"
    shown = json.loads(run(capsys, ["show", "plan.md@3", "--engine", store, "--json"])[1])
    assert shown == {"artifact": "plan.md", "version": 3, "size": 6, "encoding": "utf-8",
                     "content": "a\nB\nc\n"}
    code, out, err = run(capsys, ["show", "plan.md@1", "--engine", store])
    assert code == 1 and out == ""
    assert err.splitlines()[0] == ("ccs: error [version_not_retained]: version 1 of 'plan.md' is "
                                   "no longer retained; retained: v2-v4")
    code, _, err = run(capsys, ["show", "plan.md@9", "--engine", store])
    assert "[version_not_retained]" in err and "no version 9" in err
    code, _, err = run(capsys, ["show", "gone@2", "--engine", store])
    assert code == 1 and "is a deletion" in err
    for ref, error in (("plan.md", "invalid_argument"), ("nope@1", "unknown_artifact")):
        code, _, err = run(capsys, ["show", ref, "--engine", store])
        assert code == 1 and err.startswith(f"ccs: error [{error}]:"), err


def test_diff_of_two_retained_versions(store, capsys):
    code, out, _ = run(capsys, ["diff", "plan.md", "2", "4", "--engine", store])
    assert code == 0
    assert out.splitlines() == ["--- plan.md@2", "+++ plan.md@4", "@@ -1,2 +1,4 @@", " a", " B",
                                "+c", "+d", "\\ No newline at end of file"]
    result = json.loads(run(capsys, ["diff", "plan.md", "3", "3", "--engine", store, "--json"])[1])
    assert result == {"artifact": "plan.md", "from": 3, "to": 3, "identical": True, "diff": ""}
    code, _, err = run(capsys, ["diff", "plan.md", "1", "4", "--engine", store])
    assert code == 1 and "[version_not_retained]" in err and "v2-v4" in err


def test_reading_never_creates_a_store(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/none.db"
    for argv in (["log", "x"], ["show", "x@1"], ["diff", "x", "1", "2"]):
        code, _, err = run(capsys, [*argv, "--engine", url])
        assert code == 1 and err.startswith("ccs: error [store_not_found]:"), err
    assert not (tmp_path / "none.db").exists()


def test_log_in_a_subprocess(store):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent / "src")}
    proc = subprocess.run([sys.executable, "-m", "ccs.cli.main", "log", "plan.md", "--engine", store,
                           "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [e["commit_id"] for e in json.loads(proc.stdout)] == ["c1", "c2", "late", "c3", "c4"]
    proc = subprocess.run([sys.executable, "-m", "ccs.cli.main", "show", "plan.md@1", "--engine",
                           store], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("ccs: error [version_not_retained]: ") and "v2-v4" in proc.stderr


def test_readme_commands_print_what_the_readme_shows(tmp_path, capsys):
    """The console block of the README's audit subsection, run as written (/tmp replaced);
    times and commit ids, which differ on every run, are compared by shape."""
    text = README.read_text()
    section = text[text.index("### Audit log: ccs log, show, diff"):]
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    commands: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            commands[-1][1].append(line)
    assert [c.split()[1] for c, _ in commands] == ["demo", "log", "show", "diff", "show"]
    for command, shown in commands:
        argv = [a.replace("/tmp/", f"{tmp_path}/") for a in shlex.split(command)[1:]]
        code, out, err = run(capsys, argv)
        if argv[0] == "demo":
            assert code == 0
            continue
        printed = out.splitlines() if code == 0 else err.splitlines()[:1]
        if argv[0] == "log":
            def shape(lines):
                return [re.sub(r"commit \S+$", "commit ID", re.sub(r"^\S+Z", "TIME", ln))
                        for ln in lines]
            printed, shown = shape(printed), shape(shown)
        assert printed == shown, command
