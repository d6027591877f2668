"""The README's "OpenAI Agents SDK in one change" section runs as written and says what the
adapter does; the example runs offline and loses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("agents")

from agents import Runner, set_tracing_disabled

from ccs.adapters.openai_agents.testing import ScriptedModel, call, say
from conftest import readme_section

set_tracing_disabled(True)

HEADING = "## OpenAI Agents SDK in one change"
ROOT = Path(__file__).resolve().parents[2]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", readme_section(HEADING), flags=re.S)


def test_the_snippet_is_one_line_changed_and_runs():
    [block] = _blocks("python")
    before = [ln for ln in block.splitlines() if ln.startswith("# Before: ")]
    after = [ln for ln in block.splitlines() if ln.startswith("writer = ")]
    assert len(before) == len(after) == 1
    assert before[0].removeprefix("# Before: ").replace("tools=[read_doc, write_doc]", "") == \
        after[0].replace("tools=shared.tools()", "")
    namespace: dict = {}
    exec(compile(block, "README.md", "exec", dont_inherit=True), namespace)
    shared, writer = namespace["shared"], namespace["writer"]
    try:
        assert [t.name for t in writer.tools] == ["read_artifact", "write_artifact", "update_artifact"]
        # the run the section describes: another agent commits between the read and the write
        shared.write("setup", "plan.md", "1. draft\n")
        shared.read("setup", "plan.md")
        shared.write("setup", "plan.md", "1. draft\n")  # v2: the writer reads this one

        def policy(turn):
            last = turn.last()
            if turn.n == 1:
                return call("read_artifact", artifact_id="plan.md")
            if turn.n == 2:
                shared.read("peer", "plan.md")
                shared.write("peer", "plan.md", "1. draft\n2. peer\n")
                return call("write_artifact", artifact_id="plan.md",
                            content=last["value"] + "2. writer\n")
            if turn.n == 3:
                return call("update_artifact", artifact_id="plan.md", append="3. writer\n")
            return say("done")

        writer.model = ScriptedModel(policy)
        asyncio.run(Runner.run(writer, "update the plan", hooks=shared.hooks(),
                               session=shared.session("team")))
        refused = writer.model.turns[2].last()
        [shown] = _blocks("json")
        assert set(json.loads(shown.replace("…", ""))) == set(refused)
        assert refused["code"] == "stale_view" and refused["current_version"] == 3
        assert refused["recover"].startswith(json.loads(shown.replace("…", ""))["recover"].strip())
        assert shared.read("check", "plan.md")["value"] == "1. draft\n2. peer\n3. writer\n"
    finally:
        shared.close()


def test_section_names_the_real_api():
    text = readme_section(HEADING)
    from ccs.adapters.openai_agents import CoherentSession, SharedArtifacts
    for name in ("tools", "hooks", "agent_hooks", "session"):
        assert f"shared.{name}(" in text and hasattr(SharedArtifacts, name)
    for attr in ("stale_appends", "strict"):
        assert attr in text
    assert hasattr(CoherentSession("x"), "stale_appends")


@pytest.mark.parametrize("engine", ["memory://", "sqlite"])
def test_example_runs_offline_and_loses_nothing(engine, tmp_path):
    url = engine if engine == "memory://" else f"sqlite:///{tmp_path / 'state.db'}"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OPENAI_AGENTS_DISABLE_TRACING": "1"}
    env.pop("OPENAI_API_KEY", None)
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "openai_agents_team.py"), url],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    assert "refused" in out.stdout and "stale_view" in out.stdout
    assert "nothing lost" in out.stdout
