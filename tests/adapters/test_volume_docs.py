"""The README's CoherentVolume snippet runs as written, in its own process, and does what it says."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import readme_section

HEADING = "## Shared files: `CoherentVolume`"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_volume_snippet_runs(tmp_path):
    blocks = python_blocks(readme_section(HEADING))
    assert blocks, "the README section has no python snippet"
    out = subprocess.run([sys.executable, "-c", blocks[0]], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("stale_view 2 reacquire()")
    plan = (tmp_path / "workspace/plans/plan.md").read_text()
    assert plan == "# plan\n- gather requirements\n- design\n- ship it\n"
    assert plan in out.stdout
    ws = tmp_path / "workspace"
    assert (ws / "plans/count.txt").read_text() == "1"
    assert (ws / "plans/a.md").read_text() == "A\n" and (ws / "plans/b.md").read_text() == "B\n"
    assert (ws / ".ccs/state.db").exists()
