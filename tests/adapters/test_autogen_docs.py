"""The README's "AutoGen in one change" section runs as written, and so does the example."""

from __future__ import annotations

import asyncio
import re
import runpy
import sys
from pathlib import Path

import pytest

pytest.importorskip("autogen_agentchat")
pytest.importorskip("autogen_ext.models.replay")

from conftest import readme_section

HEADING = "## AutoGen in one change"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "autogen_team.py"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", readme_section(HEADING), flags=re.S)


def test_section_shows_the_one_line_change():
    first = _blocks()[0]
    before = first[first.index("# Before"):first.index("# After")]
    after = first[first.index("# After"):]
    assert "memory=[ListMemory()]" in before
    assert 'memory=[shared.memory_for("writer")]' in after
    assert "(the AutoGen section lands with the adapter)" not in readme_section(HEADING)


def test_snippets_execute(capsys):
    namespace: dict = {"__name__": "autogen_readme_snippet"}
    for block in _blocks():
        exec(compile(block, "README.md", "exec", dont_inherit=True), namespace)
    out = capsys.readouterr().out
    assert "False version_conflict 2" in out
    assert "'ok': True" in out and "'version': 3" in out
    assert namespace["shared"].agent("check").read("plan.md") == "# plan\n- review\n- draft\n"
    from autogen_agentchat.agents import AssistantAgent
    assert isinstance(namespace["writer"], AssistantAgent)


@pytest.mark.parametrize("engine", ["memory://", "sqlite"])
def test_example_runs_and_loses_nothing(engine, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE)])
    module = runpy.run_path(str(EXAMPLE), run_name="autogen_team_example")
    url = engine if engine == "memory://" else f"sqlite:///{tmp_path / 'team.db'}"
    baseline, plan = asyncio.run(module["main"](url))
    out = capsys.readouterr().out
    lines = module["LINES"].values()
    assert sum(line in baseline for line in lines) == 1                  # the dict lost two
    assert all(line in plan for line in lines)                           # the adapter none
    assert "REFUSED version_conflict" in out and "-> lost: nothing" in out


def test_example_runs_as_a_script():
    import os
    import subprocess

    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, str(EXAMPLE)], check=True, capture_output=True,
                         text=True, env=env, timeout=120).stdout
    assert "-> lost: alice, bob" in out and "-> lost: nothing" in out
    assert out.count("REFUSED version_conflict") == 3
