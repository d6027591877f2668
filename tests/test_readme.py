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
    modes = [line.split()[2] for line in lines[:12]]
    assert modes[0] == "plain" and modes[-1] == "stateless"  # the pin pays once edits happen
    assert all(line.endswith("pin-1") for line in lines[:12] if " stateless " in line)  # one shared pin
    diff_head = '<artifact-diff id="plan.md" from="v1" to="v3">'
    assert lines[12] == str(["Changes since snapshot pin-1:", diff_head])
    assert lines[13] == "[True, True, True, False]"


def test_token_prose_states_the_generated_worst_seed():
    """The prose above the generated tables names the worst single seed the tables report."""
    text = README.read_text()
    section = text[text.index("## Token economics, measured"):text.index("<!-- ccs bench: end -->")]
    prose, tables = section.split("<!-- ccs bench: start -->")
    got = re.search(r"worst single seed against the strongest \(a\) is (-?[\d.]+)% \((\w+), ([\w-]+), seed",
                    tables)
    assert got, "the generated targets line states the worst seed"
    pct, workload, preset = got.groups()
    assert f"{workload} under `{preset}`, {pct} %" in " ".join(prose.split())
