"""The context renderer on plain files: a CoherentVolume read rendered for a prompt."""

from ccs.adapters.coherent_volume import CoherentVolume
from ccs.tokens import ContextAgent


def test_volume_reads_render_full_then_reference_then_diff(tmp_path):
    alice = CoherentVolume(tmp_path, managed=("**",), agent="alice")
    bob = CoherentVolume(tmp_path, managed=("**",), agent="bob")
    plan = "".join(f"{i}. step {i} of a long plan that keeps going\n" for i in range(1, 40))
    alice.write("plan.md", plan)
    ctx = ContextAgent(bob.agent)

    def rendered():
        v = bob.read_with_version("plan.md")
        return ctx.render("plan.md", v.value, v.version)

    first, again = rendered(), rendered()
    assert first.kind == "content" and plan in first.text
    assert again.kind == "reference" and again.tokens < first.tokens // 10
    alice.write("plan.md", plan.replace("step 7 ", "step seven "))
    changed = rendered()
    assert changed.kind == "diff" and "step seven" in changed.text
    assert changed.tokens < first.tokens // 3
