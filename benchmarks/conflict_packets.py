"""Tokens a refused write costs the model: a conflict packet against re-sending the artifact.

After a refusal the model must learn what changed. Today's answer is to re-read: the tool result
carries the whole current artifact (baseline A), or the base and the current version so the model
can see what moved (baseline B). A conflict packet carries a unified diff of what changed since
the model's read, who changed it, a diff of what the model tried to write, and the next call.

Each row is a real refusal: two agents on one in-memory store, both read a markdown artifact of
about N tokens, the peer edits `edit` lines and commits, the writer edits `edit` other lines and
is refused (StaleView). Tokens are counted with ccs.tokens' counter (tiktoken cl100k_base,
offline) on exactly the text a prompt would carry: the packet's ``.text``, the artifact's content.

    python benchmarks/conflict_packets.py            # table + JSON on stdout
    python benchmarks/conflict_packets.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from ccs import CoherenceAdapterCore, StaleView
from ccs.tokens.counter import default_counter

WORDS = ("the", "plan", "step", "agent", "review", "deploy", "test", "service", "owner", "budget",
         "risk", "metric", "latency", "database", "migration", "rollout", "customer", "feedback",
         "release", "branch", "merge", "config", "schema", "cache", "index", "query", "queue",
         "worker", "retry", "timeout", "alert", "dashboard", "incident", "postmortem")


def artifact(target_tokens: int, count, seed: int = 7) -> list[str]:
    """Markdown lines (headings and bullets of plausible words) up to ``target_tokens``."""
    rng = random.Random(seed)
    lines: list[str] = []
    total = 0
    section = 0
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


def measure(size: int, edit: int, count, budget: int | None) -> dict:
    lines = artifact(size, count)
    n = len(lines)
    theirs_at = [round(n * (k + 0.25) / edit) for k in range(edit)]
    yours_at = [round(n * (k + 0.75) / edit) for k in range(edit)]
    base = "".join(lines)
    with CoherenceAdapterCore("memory://") as core:
        peer, writer = core.agent("peer"), core.agent("writer")
        peer.write("plan.md", base)
        writer.read("plan.md")
        current = edited(lines, theirs_at, "peer")
        peer.write("plan.md", current)
        try:
            writer.write("plan.md", edited(lines, yours_at, "writer"))
        except StaleView as err:
            packet = err.conflict_packet(budget)
        else:
            raise AssertionError("the stale write landed")
    row = {"artifact_tokens": count(base), "lines": n, "edited_lines_each_side": edit,
           "packet_tokens": packet.tokens, "packet_truncated": packet.truncated,
           "resend_current_tokens": count(current), "resend_base_and_current_tokens":
           count(base) + count(current)}
    row["packet_vs_current"] = round(packet.tokens / row["resend_current_tokens"], 3)
    row["packet_vs_base_and_current"] = round(packet.tokens / row["resend_base_and_current_tokens"], 3)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the JSON result to this file")
    parser.add_argument("--budget", type=int, default=None,
                        help="packet token budget (default: none, the whole packet)")
    args = parser.parse_args(argv)
    counter = default_counter()
    rows = [measure(size, edit, counter.count, args.budget)
            for size in (1000, 2000, 4000, 8000) for edit in (1, 5, 20)]
    result = {"counter": counter.name, "budget_tokens": args.budget, "rows": rows}
    head = (f"{'artifact':>8} {'edits':>5} {'packet':>7} {'resend cur':>10} {'base+cur':>9} "
            f"{'pkt/cur':>8} {'pkt/(b+c)':>9}")
    print(f"conflict packet vs re-sending (tokens, {counter.name})")
    print(head)
    for r in rows:
        print(f"{r['artifact_tokens']:>8} {r['edited_lines_each_side']:>5} {r['packet_tokens']:>7} "
              f"{r['resend_current_tokens']:>10} {r['resend_base_and_current_tokens']:>9} "
              f"{r['packet_vs_current']:>8.3f} {r['packet_vs_base_and_current']:>9.3f}")
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
