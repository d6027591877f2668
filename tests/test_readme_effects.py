"""The README's effect-gate and handoff examples run as written and do what they say."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_effect_and_handoff_examples_run():
    scope: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(python_block_after("### Acting on shared state: effects"), "README.md", "exec"),
             scope)
        exec(compile(python_block_after("### Handing off"), "README.md", "exec"), scope)
    assert out.getvalue().splitlines() == ["stale_view 2", "['announce-1']", "2"]
    planner = scope["planner"]
    assert planner.pending_effects() == []
    core = scope["core"]
    assert core.coordinator.artifact("spec.md").owner.agent == scope["reviewer"].id
