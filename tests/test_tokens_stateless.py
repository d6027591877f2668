"""Stateless rendering: the pin + anchored diffs always carry the current text; the pin is shared
byte for byte; the plain prompt without a cache; the mode from the agent API, CCSStore, adapters."""

import random
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ccs.adapters import CoherenceAdapterCore
from ccs.protocol.errors import InvalidArgument, UnknownArtifact
from ccs.tokens import default_counter
from ccs.tokens.billing import Prompt, PromptCache
from ccs.tokens.diffs import anchored_diff, apply_diff
from ccs.tokens.stateless import PinBoard, RenderedContext, values_fetch

ART = re.compile(r'<artifact id="([^"]+)" version="([^"]+)">\n(.*?)\n</artifact>', re.S)
DIFF = re.compile(r'<artifact-diff id="([^"]+)" from="([^"]+)" to="([^"]+)">\n(.*?)\n</artifact-diff>', re.S)


def reconstruct(ctx: RenderedContext) -> dict[str, str]:
    """What a model can know from the prompt: the snapshot, then each change applied to it."""
    blocks = {b.kind: b.text for b in ctx.blocks}
    if ctx.mode == "plain":
        return {m[0]: m[2] for m in ART.findall(blocks["artifacts"])}
    known = {m[0]: m[2] for m in ART.findall(blocks["snapshot"])}
    changes = blocks.get("changes", "")
    for aid, _old, _new, diff in DIFF.findall(changes):
        known[aid] = apply_diff(known[aid], diff)
    for aid, _label, text in ART.findall(changes):
        known[aid] = text
    return known


def lines(rng: random.Random, n: int) -> list[str]:
    return [f"line {rng.randint(0, 10**6)} of a shared plan, with words enough to matter" for _ in range(n)]


def mutate(rng: random.Random, text: str) -> str:
    ls = text.split("\n")
    op = rng.choice(("rewrite", "append", "delete", "regenerate"))
    i = rng.randrange(len(ls))
    if op == "rewrite":
        ls[i:i + 3] = lines(rng, rng.randint(1, 4))
    elif op == "append":
        ls += lines(rng, rng.randint(1, 5))
    elif op == "delete" and len(ls) > 5:
        del ls[i:i + 2]
    else:
        ls = lines(rng, rng.randint(20, 60))
    return "\n".join(ls) + rng.choice(("", "\n"))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), preset=st.sampled_from(["anthropic", "openai"]),
       fraction=st.sampled_from([0.05, 0.3, 1.0]))
def test_pin_plus_anchored_diffs_reconstruct_every_current_text(seed, preset, fraction):
    rng = random.Random(seed)
    board = PinBoard(default_counter(), preset, repin_fraction=fraction, adaptive=False)
    texts = {f"doc{i}.md": "\n".join(lines(rng, 80)) for i in range(3)}
    board.share(texts)
    fetch = values_fetch(texts)
    kinds = set()
    for turn in range(25):
        if rng.random() < 0.6:
            aid = rng.choice(sorted(texts))
            texts[aid] = mutate(rng, texts[aid])
        ids = rng.sample(sorted(texts), rng.randint(1, 3))
        ctx = board.render(ids, fetch, role="You are a reviewer.", turn=f"turn {turn}", now=turn * 30.0,
                           agent=f"a{turn % 3}")
        known = reconstruct(ctx)
        for aid in ids:
            assert known[aid] == texts[aid], (seed, turn, aid)
        kinds.add("diff" if "<artifact-diff" in ctx.text else ctx.mode)
    assert "stateless" in kinds or "diff" in kinds


def test_the_pin_is_byte_identical_across_agents_and_turns_and_changes_are_anchored_on_it():
    rng = random.Random(1)
    texts = {"plan.md": "\n".join(lines(rng, 150)), "spec.md": "\n".join(lines(rng, 120))}
    board = PinBoard(default_counter(), "anthropic", repin_fraction=0.5, adaptive=False)
    board.share(texts)
    fetch = values_fetch(texts)
    first = board.render(["plan.md"], fetch, role="planner", turn="t1", now=0, agent="planner")
    other = board.render(["spec.md"], fetch, role="critic", turn="t2", now=30, agent="critic")
    assert first.mode == other.mode == "stateless" and first.pin == other.pin == "pin-1"
    assert first.blocks[0].text == other.blocks[0].text and first.blocks[0].breakpoint
    for n in range(3):  # three successive edits: each diff is against the pin, never a chain
        texts["plan.md"] = texts["plan.md"].replace(texts["plan.md"].split("\n")[10 + n], f"edit {n}")
        ctx = board.render(["plan.md"], fetch, role="planner", turn=f"t{n}", now=60 + 30 * n, agent="planner")
        assert ctx.pin == "pin-1" and f'from="v1" to="v{n + 2}"' in ctx.text
        assert ctx.text.count("<artifact-diff") == 1 and "edit 0" in ctx.text
    assert "[spec.md" not in ctx.text  # an unchanged artifact costs nothing after the pin
    texts["spec.md"] += "\nappended line"
    ctx = board.render(["plan.md"], fetch, role="planner", turn="t", now=200, agent="planner")
    assert "[spec.md: the snapshot's v1 is outdated (now v2)" in ctx.text  # a changed, unread one
    texts["plan.md"] = "\n".join(lines(rng, 150))  # regenerated: the change outgrows the budget
    ctx = board.render(["plan.md"], fetch, role="planner", turn="t", now=230, agent="planner")
    assert ctx.repinned and ctx.pin == "pin-2" and "<artifact-diff" not in ctx.text
    assert board.render(["plan.md"], fetch, now=230 + 301).repinned  # the cache entry expired


def test_no_cache_sends_the_plain_prompt_exactly():
    texts = {"plan.md": "step one\nstep two", "spec.md": "must do x"}
    board = PinBoard(default_counter(), "no-cache")
    ctx = board.render(["plan.md", "spec.md"], values_fetch(texts), role="R", turn="T")
    assert ctx.mode == "plain" and ctx.pin is None
    assert ctx.text == ('R\n\n<artifact id="plan.md" version="v1">\nstep one\nstep two\n</artifact>\n\n'
                        '<artifact id="spec.md" version="v1">\nmust do x\n</artifact>\n\nT')


def test_a_snapshot_under_the_minimum_cacheable_length_is_sent_plain():
    board = PinBoard(default_counter(), "anthropic", adaptive=False)
    assert board.render(["a"], values_fetch({"a": "short"}), role="R", turn="T").mode == "plain"


def test_stateless_prompts_bill_less_than_plain_ones_for_a_fleet_under_anthropic():
    rng = random.Random(3)
    texts = {f"f{i}.md": "\n".join(lines(rng, 200)) for i in range(3)}
    board = PinBoard(default_counter(), "anthropic")
    board.share(texts)
    counter = default_counter()
    ours, plain = PromptCache("anthropic"), PromptCache("anthropic")
    plain_board = PinBoard(counter, "no-cache")
    for turn in range(40):
        agent = f"agent{turn % 4}"
        if turn % 2:
            aid = rng.choice(sorted(texts))
            texts[aid] = mutate(random.Random(turn), texts[aid])
        ids = sorted(texts)[: 2 + turn % 2]
        for b, cache in ((board, ours), (plain_board, plain)):
            ctx = b.render(ids, values_fetch(texts), role=f"You are {agent}.", turn=f"t{turn}",
                           now=turn * 30.0, agent=agent)
            blocks = [x for x in ctx.blocks if x.text]
            marks = [i for i, x in enumerate(blocks) if x.breakpoint or x.kind == "artifacts"]
            cache.bill(agent, Prompt.of([counter.encode(x.text) for x in blocks], marks), turn * 30.0)
    assert ours.total().billed < 0.9 * plain.total().billed


def test_agent_api_store_and_adapters_render_the_same_shared_pin():
    core = CoherenceAdapterCore()
    body = "\n".join(f"{i}. a step of the plan, long enough to be worth caching" for i in range(300))
    core.agent("writer").write("plan.md", body)
    a = core.agent("reader").render_context(["plan.md"], role="reader", turn="go", preset="openai", now=0)
    assert a.mode == "plain"  # the first turn: nothing says the stateless form pays yet
    assert "1. a step of the plan" in a.text
    with pytest.raises(InvalidArgument):
        core.agent("reader").render_context(["plan.md"], mode="chatty")
    plain = core.agent("reader").render_context(["plan.md"], mode="plain")
    assert plain.mode == "plain" and plain.blocks[1].breakpoint is False

    from ccs.adapters.autogen import SharedArtifacts as AutoGenShared
    from ccs.adapters.crewai.context import render_context as crewai_render
    from ccs.adapters.openai_agents import SharedArtifacts as OpenAIShared

    for ctx in (AutoGenShared(core).render_context("ag", ["plan.md"], preset="no-cache"),
                OpenAIShared(core).render_context("oa", ["plan.md"], preset="no-cache"),
                crewai_render(core, "crew", ["plan.md"], preset="no-cache")):
        assert ctx.mode == "plain" and body in ctx.text


def test_ccsstore_render_context_reads_through_the_store():
    pytest.importorskip("langgraph")
    from ccs.adapters.langgraph import CCSStore

    with CCSStore() as store:
        store.put(("p",), "plan", {"text": "the plan", "owner": "ann"})
        ctx = store.for_agent("planner").render_context(("p",), ["plan"], field="text", preset="no-cache",
                                                         role="R", turn="T")
        assert '<artifact id="plan" version="v1">\nthe plan\n</artifact>' in ctx.text
        whole = store.render_context(("p",), ["plan"], mode="plain")
        assert '"owner": "ann"' in whole.text
        with pytest.raises(UnknownArtifact):
            store.render_context(("p",), ["nope"])


def test_anthropic_blocks_carry_cache_control_on_breakpoints():
    rng = random.Random(5)
    texts = {"a.md": "\n".join(lines(rng, 200))}
    board = PinBoard(default_counter(), "anthropic", adaptive=False)
    ctx = board.render(["a.md"], values_fetch(texts), role="R", turn="T")
    blocks = ctx.anthropic_blocks()
    assert blocks[0]["cache_control"] == {"type": "ephemeral"} and "cache_control" not in blocks[-1]


def test_anchored_diff_round_trips_and_rejects_a_wrong_base():
    base, new = "a\nb\nc\n", "a\nB\nc\nd\n"
    assert apply_diff(base, anchored_diff(base, new)) == new
    with pytest.raises(InvalidArgument):
        apply_diff("x\ny\nz\n", anchored_diff(base, new))


@settings(max_examples=12, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10**6), preset=st.sampled_from(["anthropic", "openai"]),
       n_art=st.integers(1, 4), n_agents=st.integers(1, 5), p_write=st.sampled_from([0.0, 0.2, 0.9]),
       gap=st.sampled_from([10.0, 120.0, 400.0]))
@example(seed=1, preset="anthropic", n_art=3, n_agents=2, p_write=0.9, gap=10.0)  # the worst found: +15 %
def test_the_board_bills_about_what_the_plain_prompt_costs_at_worst(seed, preset, n_art, n_agents, p_write,
                                                                    gap):
    """Whatever the fleet does, what the board chooses is billed at most 20 % above the plain prompt
    sent every turn (the bill without the library), priced by the same model. The choice is an
    online estimate: small fleets whose files are rewritten nearly every turn can pay more than the
    plain prompt (the worst case found is about +15 %); the benchmark workloads stay within 5 %."""
    rng, counter = random.Random(seed), default_counter()
    texts = {f"f{i}.md": "\n".join(lines(rng, rng.randint(30, 250))) for i in range(n_art)}
    reads = {f"a{j}": rng.sample(sorted(texts), rng.randint(1, n_art)) for j in range(n_agents)}
    board, plain = PinBoard(counter, preset), PinBoard(counter, "no-cache")
    board.share(texts)
    ours, base = PromptCache(preset), PromptCache(preset)
    for turn in range(30):
        agent = f"a{turn % n_agents}"
        if rng.random() < p_write:
            aid = rng.choice(sorted(texts))
            texts[aid] = mutate(rng, texts[aid])
        for b, cache in ((board, ours), (plain, base)):
            ctx = b.render(reads[agent], values_fetch(texts), role=f"You are {agent}.", turn=f"t{turn}",
                           now=turn * gap, agent=agent)
            blocks = [x for x in ctx.blocks if x.text]
            marks = [i for i, x in enumerate(blocks) if x.breakpoint or x.kind == "artifacts"]
            cache.bill(agent, Prompt.of([counter.encode(x.text) for x in blocks], marks), turn * gap)
    assert ours.total().billed <= 1.2 * base.total().billed
