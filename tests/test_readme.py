"""The README's agent-API example must run as written and show what it claims."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_agent_api_example_runs():
    code = python_block_after("## The agent API")
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), scope)
    assert out.getvalue().startswith("stale_view 2 ")
    plan = scope["core"].agent("observer").read("plan.md")
    assert "2. security review" in plan and "3. ship it" in plan and "4. retro" in plan
    assert scope["core"].agent("observer").read("status.json") == {"plan_version": 4, "steps": 4}


def test_context_agent_example_runs():
    code = python_block_after("## Token economics, measured")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "content"
    assert "plan.md" in lines[1] and len(lines[1]) < 120
    assert "plan.md" in lines[2] and "changed" in lines[2]
    assert lines[3] == "diff"
