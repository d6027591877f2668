"""The README's effect-gate and handoff examples run as written and do what they say."""

import contextlib
import io

from test_readme import python_block_after


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
