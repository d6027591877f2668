"""The README's "Replay and diagnose" commands run as written and print what it shows."""

from __future__ import annotations

import json
import re
import shlex
import sys

from ccs import StaleView
from ccs.adapters import CCSStore
from ccs.cli.main import main
from conftest import README
from race_graphs import SOURCE


def subsection() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n### Replay and diagnose\n")
    end = re.compile(r"\n##+ ").search(text, start + 5).start()
    return text[start:end]


def test_readme_replay_and_diagnose_commands(tmp_path, monkeypatch, capsys):
    section = subsection()
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert [c.split()[:2] for c in commands] == [["ccs", "replay"]] * 2 + [["ccs", "diagnose"]]

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_graphs.py").write_text(SOURCE + "\napp = hazard\n")
    (tmp_path / "input.json").write_text('{"outcomes": []}')
    sys.path.insert(0, str(tmp_path))
    try:
        import my_graphs  # the same graph, on CCSStore with record_to: the history replays clean
        store = CCSStore().record_to("ops.jsonl")
        store.put(("counters",), "n", {"n": 0})
        my_graphs.make(shared=True, on_conflict=lambda e: isinstance(e, StaleView)).compile(
            store=store).invoke({"outcomes": []})
        store.close()

        outputs = []
        for command in commands:
            code = main(shlex.split(command)[1:])
            outputs.append((code, capsys.readouterr().out))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_graphs", None)

    (c1, out1), (c2, out2), (c3, out3) = outputs
    assert c1 == 0 and " clean (" in out1
    assert c2 == 0 and json.loads(out2)["invariants"] == {"no_lost_write": 0, "linearizable": 0}
    assert c3 == 1 and (tmp_path / "report.html").is_file()
    shown = re.search(r"```text\n(.*?)```", section, re.S).group(1).splitlines()
    for line in shown:
        assert line in out3.splitlines(), line
