"""Deterministic artifact text: Markdown-like lines, and edits that replace a few of them."""

from __future__ import annotations

import random

WORDS = (
    "agent", "plan", "review", "test", "deploy", "schema", "cache", "budget", "owner", "risk",
    "metric", "latency", "index", "query", "migration", "rollback", "endpoint", "token", "prompt",
    "draft", "approve", "merge", "branch", "release", "customer", "invoice", "ledger", "report",
    "dashboard", "alert", "retry", "queue", "worker", "shard", "replica", "backup", "audit",
    "policy", "quota", "limit", "feature", "flag", "experiment", "cohort", "baseline", "target",
    "milestone", "blocker",
)


def line(rng: random.Random, tag: str) -> str:
    n = rng.randint(6, 12)
    return f"- [{tag}] " + " ".join(rng.choice(WORDS) for _ in range(n)) + "."


def initial_text(artifact: str, tokens: int, rng: random.Random, count) -> str:
    """Text of about ``tokens`` tokens (measured with ``count``), one item per line."""
    lines = [f"# {artifact}"]
    i = 0
    while count("\n".join(lines)) < tokens:
        i += 1
        lines.append(line(rng, f"{i}"))
    return "\n".join(lines)


def edit(text: str, rng: random.Random, n_lines: int, tag: str) -> str:
    """Replace ``n_lines`` item lines (never the title) with new ones tagged ``tag``."""
    lines = text.split("\n")
    body = range(1, len(lines))
    for idx in rng.sample(list(body), min(n_lines, len(lines) - 1)):
        lines[idx] = line(rng, tag)
    return "\n".join(lines)
