"""The README's CrewAI section and ``examples/crewai_crew.py`` run as written (offline)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from ccs.adapters.crewai import uninstall

ROOT = Path(__file__).resolve().parents[2]


def test_readme_crewai_section_runs(readme, capsys):
    section = readme("## CrewAI in one change")
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1
    namespace: dict = {}
    try:
        exec(compile(blocks[0], "README.md#crewai", "exec"), namespace)
        from crewai.memory import Memory
        from harness import FinalLLM, embed

        from ccs.adapters.crewai import CoherentMemoryStorage
        mem = Memory(llm=FinalLLM(model="scripted"), embedder=embed)
        assert isinstance(mem._storage, CoherentMemoryStorage)  # install() took effect
        assert mem._storage.core is namespace["core"]
    finally:
        uninstall()
    refusal = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert refusal["ok"] is False and refusal["code"] == "stale_view"
    assert refusal["artifact"] == "plan.md" and refusal["current_version"] == 2
    assert refusal["recover"].startswith("plan.md changed after you read it (now version 2)")
    plan = namespace["core"].agent("auditor").read("plan.md")
    assert plan == ("1. collect requirements\n2. survey prior art\n3. draft the report\n")


def test_example_crew_runs_offline():
    env = {**os.environ, "OPENAI_API_KEY": "", "CREWAI_DISABLE_TELEMETRY": "true",
           "OTEL_SDK_DISABLED": "true"}
    out = subprocess.run([sys.executable, str(ROOT / "examples" / "crewai_crew.py")], env=env,
                         capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "write REFUSED (stale_view, plan is now v2)" in out.stdout
    assert "write landed as v3" in out.stdout
    plan = out.stdout.split("final plan.md:\n", 1)[1]
    assert "2. survey prior art" in plan and "3. draft the report" in plan
