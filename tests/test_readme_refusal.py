"""The README's "When a write is refused" example runs as written and prints what it shows."""

from __future__ import annotations

import contextlib
import io
import re

from conftest import readme_section


def test_merge_example_runs_and_prints_the_packet_shown():
    section = readme_section("## When a write is refused")
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shown = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    out = io.StringIO()
    scope: dict = {}
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), scope)
    printed = out.getvalue()
    assert printed.startswith("3 True\n# plan\n- design: done\n---\n- tests: written\n")
    assert printed.endswith(shown)  # the packet, exactly as the README shows it
    assert scope["core"].agent("check").read("plan.md") == \
        "# plan\n- design: redone\n---\n- tests: written\n"  # the conflicting write wrote nothing
