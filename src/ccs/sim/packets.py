"""Tokens a refused write costs the model: a conflict packet against re-sending the artifact.

After a refusal the model must learn what changed. Without a packet the answer is a re-read: the
tool result carries the whole current artifact, or the base and the current version so the model
can see what moved. A conflict packet (``ccs.merge.packet``) carries a unified diff of what
changed since the model's read, who changed it, a diff of what the model tried to write, and the
next call.

Each row is a real refusal: two agents on one in-memory store both read a markdown artifact of
about N tokens, the peer edits ``edits`` lines and commits, the writer edits ``edits`` other
lines and is refused (``StaleView``). Every figure is counted with one counter on exactly the
text a prompt would carry: the packet's ``text``, the artifact's content. ``ccs bench`` (the token
report) and ``benchmarks/conflict_packets.py`` both call :func:`measure_all`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

SIZES = (1000, 2000, 4000, 8000)  # artifact tokens
EDITS = (1, 5, 20)  # lines edited on each side

WORDS = ("the", "plan", "step", "agent", "review", "deploy", "test", "service", "owner", "budget",
         "risk", "metric", "latency", "database", "migration", "rollout", "customer", "feedback",
         "release", "branch", "merge", "config", "schema", "cache", "index", "query", "queue",
         "worker", "retry", "timeout", "alert", "dashboard", "incident", "postmortem")


def artifact(target_tokens: int, count: Any, seed: int = 7) -> list[str]:
    """Markdown lines (headings and bullets of plausible words) up to ``target_tokens``."""
    rng = random.Random(seed)
    lines: list[str] = []
    total = section = 0
    while total < target_tokens:
        if len(lines) % 12 == 0:
            section += 1
            line = f"## {section}. {' '.join(rng.choices(WORDS, k=3)).title()}\n"
        else:
            line = f"- {' '.join(rng.choices(WORDS, k=rng.randint(8, 16)))}.\n"
        lines.append(line)
        total += count(line)
    return lines


def edited(lines: list[str], at: list[int], who: str) -> str:
    out = list(lines)
    for i in at:
        out[i] = out[i].rstrip("\n") + f" ({who} revised this)\n"
    return "".join(out)


@dataclass(frozen=True)
class Refusal:
    base: str  # what both agents read
    current: str  # the peer's commit, which the writer's write was refused against
    packet: Any  # the refusal's ConflictPacket


def refuse(size: int, edits: int, counter: Any, budget: int | None = None) -> Refusal:
    """Stage the refusal of one row and render its packet with ``counter``."""
    from ccs import CoherenceAdapterCore, StaleView

    lines = artifact(size, counter.count)
    n = len(lines)
    theirs_at = [round(n * (k + 0.25) / edits) for k in range(edits)]
    yours_at = [round(n * (k + 0.75) / edits) for k in range(edits)]
    base, current = "".join(lines), edited(lines, theirs_at, "peer")
    with CoherenceAdapterCore("memory://") as core:
        peer, writer = core.agent("peer"), core.agent("writer")
        peer.write("plan.md", base)
        writer.read("plan.md")
        peer.write("plan.md", current)
        try:
            writer.write("plan.md", edited(lines, yours_at, "writer"))
        except StaleView as err:
            return Refusal(base, current, err.conflict_packet(budget, counter=counter))
    raise AssertionError("the stale write landed")


def measure(size: int, edits: int, counter: Any, budget: int | None = None) -> dict[str, Any]:
    r = refuse(size, edits, counter, budget)
    packet, current = counter.count(r.packet.text), counter.count(r.current)
    both = counter.count(r.base) + current
    return {"artifact_tokens": counter.count(r.base), "lines": r.base.count("\n"),
            "edited_lines_each_side": edits, "packet_tokens": packet,
            "packet_truncated": r.packet.truncated, "resend_current_tokens": current,
            "resend_base_and_current_tokens": both,
            "packet_vs_current": round(packet / current, 3),
            "packet_vs_base_and_current": round(packet / both, 3)}


def measure_all(counter: Any, sizes: tuple[int, ...] = SIZES, edits: tuple[int, ...] = EDITS,
                budget: int | None = None) -> dict[str, Any]:
    """Every (size, edits) row, counted with ``counter`` (named in the result)."""
    return {"counter": counter.name, "budget_tokens": budget,
            "rows": [measure(s, e, counter, budget) for s in sizes for e in edits]}
