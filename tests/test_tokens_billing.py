"""The prompt-cache billing model, on hand-computed sequences."""

import pytest

from ccs.protocol.errors import InvalidArgument
from ccs.tokens.billing import PRESETS, CachePreset, Prompt, PromptCache, bill_sequence, preset


def toks(start: int, n: int) -> tuple[int, ...]:
    return tuple(range(start, start + n))


PIN, ROLE_A, ROLE_B = toks(0, 2000), toks(10_000, 100), toks(20_000, 100)


def test_no_cache_bills_every_token_at_the_base_price():
    c = bill_sequence([("a", Prompt.of([PIN, ROLE_A]), 0.0), ("a", Prompt.of([PIN, ROLE_A]), 1.0)],
                      "no-cache")
    t = c.total()
    assert (t.tokens, t.billed, t.read, t.written) == (4200, 4200.0, 0, 0)


def test_anthropic_writes_at_breakpoints_and_reads_the_shared_prefix_across_agents():
    c = PromptCache("anthropic")
    # agent a: pin (breakpoint) + role (breakpoint) + turn
    b1 = c.bill("a", Prompt.of([PIN, ROLE_A, toks(50_000, 30)], [0, 1]), 0.0)
    assert (b1.read, b1.written, b1.uncached) == (0, 2100, 30)
    assert b1.billed == pytest.approx(2100 * 1.25 + 30)
    # agent b shares the organization's cache: the pin is read, its own role is written
    b2 = c.bill("b", Prompt.of([PIN, ROLE_B, toks(60_000, 30)], [0, 1]), 10.0)
    assert (b2.read, b2.written, b2.uncached) == (2000, 100, 30)
    assert b2.billed == pytest.approx(2000 * 0.1 + 100 * 1.25 + 30)
    # agent a again: pin + its role are read
    b3 = c.bill("a", Prompt.of([PIN, ROLE_A, toks(70_000, 40)], [0, 1]), 20.0)
    assert (b3.read, b3.written, b3.uncached) == (2100, 0, 40)


def test_anthropic_minimum_length_and_lifetime():
    c = PromptCache("anthropic")
    short = Prompt.of([toks(0, 1000), toks(5000, 10)], [0])
    assert c.bill("a", short, 0.0).written == 0  # under 1,024 tokens: nothing is cached
    assert c.bill("a", short, 1.0).read == 0
    c.bill("a", Prompt.of([PIN], [0]), 0.0)
    assert c.bill("a", Prompt.of([PIN], [0]), 299.0).read == 2000  # a use refreshes the 5 minutes
    assert c.bill("a", Prompt.of([PIN], [0]), 598.0).read == 2000
    b = c.bill("a", Prompt.of([PIN], [0]), 899.0)  # > 300 s since the last use: written again
    assert (b.read, b.written) == (0, 2000)


def test_anthropic_hits_only_at_block_boundaries_written_before():
    c = PromptCache("anthropic")
    c.bill("a", Prompt.of([PIN, ROLE_A], [1]), 0.0)  # one entry, at 2,100
    b = c.bill("b", Prompt.of([PIN, ROLE_B], [1]), 1.0)  # no entry ends at 2,000
    assert (b.read, b.written) == (0, 2100)


def test_openai_is_automatic_in_128_token_increments_at_half_price():
    c = PromptCache("openai")
    first = c.bill("a", Prompt.of([PIN, toks(50_000, 30)]), 0.0)
    assert first.read == 0 and first.billed == 2030
    # same first 2,000 tokens, then a different block: the hit is floored to 1024 + 7*128 = 1920
    b = c.bill("b", Prompt.of([PIN[:1990] + toks(90_000, 10), toks(60_000, 30)]), 1.0)
    assert b.read == 1920 and b.billed == pytest.approx(1920 * 0.5 + (2030 - 1920))
    assert c.bill("c", Prompt.of([toks(99_000, 500)]), 2.0).read == 0  # under 1,024: never cached


def test_per_agent_scope_when_not_shared():
    private = CachePreset("private", "explicit", min_tokens=1024, read_multiplier=0.1,
                          write_multiplier=1.25, shared=False)
    c = PromptCache(private)
    c.bill("a", Prompt.of([PIN], [0]), 0.0)
    assert c.bill("b", Prompt.of([PIN], [0]), 1.0).read == 0
    assert c.bill("a", Prompt.of([PIN], [0]), 2.0).read == 2000


def test_presets_and_errors():
    assert set(PRESETS) == {"no-cache", "anthropic", "openai"}
    assert preset("anthropic").write_multiplier == 1.25 and preset("openai").increment == 128
    with pytest.raises(InvalidArgument) as err:
        preset("gemini")
    assert err.value.code == "invalid_argument" and "anthropic" in err.value.recover


def test_expired_prefixes_are_pruned():
    c = PromptCache("anthropic")
    for i in range(5):
        c.bill("a", Prompt.of([toks(1000 * i, 1100), ROLE_A], [0, 1]), float(i))
    assert c.prune(now=100.0) == 0  # all still live
    assert c.prune(now=1000.0) == 10  # 5 snapshots and their roles expired
    assert c.bill("a", Prompt.of([toks(0, 1100)], [0]), 1000.0).read == 0
