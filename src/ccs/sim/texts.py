"""Deterministic realistic artifacts (Markdown plans, specs, Python modules) and realistic edits.

Text is built from seeded templates: prose paragraphs wrapped at 88 columns, bullet lists,
numbered requirements, Python functions with docstrings. Edits follow a stated mix
(:data:`EDIT_MIX`): rewrite one section, append a section, reflow one section's paragraphs to a
different width, or regenerate the whole file.
"""

from __future__ import annotations

import random
import re
import textwrap
from collections.abc import Callable

SUBJECTS = ("The scheduler", "Each worker", "The ingestion service", "The billing job", "The API gateway",
            "The review bot", "The migration script", "The cache layer", "The planner",
            "The on-call engineer",
            "The release pipeline", "The search index", "The audit log", "The feature flag service")
VERBS = ("validates", "batches", "retries", "records", "rejects", "compacts", "replays", "summarises",
         "partitions", "throttles", "reconciles", "publishes", "archives", "re-ranks")
OBJECTS = ("incoming events", "stale entries", "pending invoices", "customer exports", "schema changes",
           "failed deliveries", "usage metrics", "draft reports", "rollback plans", "access tokens",
           "nightly snapshots", "quota overrides", "deployment manifests", "support tickets")
WHEN = ("before the nightly window closes", "after every successful deploy", "when the queue backs up",
        "within two minutes of a write", "once per tenant per hour", "whenever a shard is rebalanced",
        "before the quarterly review", "as soon as the lock is released")
WHY = ("so that no tenant sees a partial result", "which keeps p99 latency under 200 ms",
       "because the downstream ledger is append-only", "to keep the error budget intact",
       "so that a replay is idempotent", "which halves the storage bill",
       "because auditors need a complete trail", "so that rollbacks stay under five minutes")
HEADINGS = ("Goals", "Non-goals", "Milestones", "Open questions", "Data model", "Rollout", "Risks",
            "Dependencies", "Testing strategy", "Operational concerns", "Budget", "Timeline",
            "Security review", "Migration plan", "Monitoring", "Alternatives considered", "Staffing")
NAMES = ("invoice", "tenant", "batch", "event", "shard", "report", "quota", "token", "window", "ledger")
PY_VERBS = ("load", "merge", "flush", "rank", "split", "check", "sync", "prune", "group", "collect")
EDIT_MIX = (("rewrite_section", 0.45), ("append", 0.30), ("reflow", 0.15), ("regenerate", 0.10))


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(WHEN)}, " \
           f"{rng.choice(WHY)}."


def paragraph(rng: random.Random, width: int = 88) -> str:
    return textwrap.fill(" ".join(sentence(rng) for _ in range(rng.randint(3, 6))), width)


def prose(rng: random.Random, tokens: int, count: Callable[[str], int]) -> str:
    """Paragraphs of about ``tokens`` tokens (a model's reply): sentences until the count is
    reached, so the overshoot is at most one sentence."""
    sentences: list[str] = []
    while count(" ".join(sentences)) < tokens:
        sentences.append(sentence(rng))
    paras = [" ".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4)]
    return "\n\n".join(textwrap.fill(p, 88) for p in paras)


def md_section(rng: random.Random, n: int, kind: str) -> str:
    head = f"## {n}. {rng.choice(HEADINGS)}"
    body = [paragraph(rng)]
    if kind == "spec":
        body.append("\n".join(f"- REQ-{n}.{i}: {sentence(rng)}" for i in range(1, rng.randint(3, 6))))
    else:
        body.append("\n".join(f"- [ ] {sentence(rng)}" for _ in range(rng.randint(2, 5))))
    if rng.random() < 0.5:
        body.append(paragraph(rng))
    return head + "\n\n" + "\n\n".join(body)


def py_section(rng: random.Random, n: int, kind: str) -> str:
    name = f"{rng.choice(PY_VERBS)}_{rng.choice(NAMES)}s_{n}"
    arg = rng.choice(NAMES)
    doc = textwrap.indent(textwrap.fill(sentence(rng), 84), "    ")
    lines = [f"def {name}({arg}s: list[dict], *, limit: int = {rng.choice((10, 50, 100, 500))}) -> dict:",
             '    """' + doc.strip(), '    """', "    out: dict = {}"]
    for i in range(rng.randint(3, 7)):
        key = rng.choice(NAMES)
        lines += [f"    for {arg} in {arg}s[:limit]:",
                  f"        if {arg}.get('{key}') is None:",
                  f"            continue  # {rng.choice(WHY)}",
                  f"        out.setdefault('{key}_{i}', []).append({arg}['{key}'])"]
    lines.append("    return out")
    return "\n".join(lines)


def section(rng: random.Random, n: int, kind: str) -> str:
    return py_section(rng, n, kind) if kind == "python" else md_section(rng, n, kind)


def header(name: str, kind: str) -> str:
    if kind == "python":
        return f'"""{name}: shared module the team edits together."""\n\nfrom __future__ import annotations'
    return f"# {name}"


def document(name: str, kind: str, tokens: int, rng: random.Random, count: Callable[[str], int]) -> str:
    """A ``kind`` ("plan", "spec" or "python") document of about ``tokens`` tokens."""
    parts = [header(name, kind)]
    while count("\n\n\n".join(parts)) < tokens:
        parts.append(section(rng, len(parts), kind))
    return "\n\n\n".join(parts)


def sections(text: str) -> list[str]:
    return text.split("\n\n\n")


def edit(text: str, name: str, kind: str, target: int, rng: random.Random,
         count: Callable[[str], int]) -> tuple[str, str, str]:
    """One edit from :data:`EDIT_MIX`: ``(new_text, edit_kind, what_changed)`` where
    ``what_changed`` is the text an edit tool call would carry (the new section, or the file)."""
    op = rng.choices([k for k, _ in EDIT_MIX], [w for _, w in EDIT_MIX])[0]
    parts = sections(text)
    if op == "append" and count(text) > 1.3 * target:
        op = "rewrite_section"  # keep the file in its size band
    if op == "regenerate":
        new = document(name, kind, target, rng, count)
        return new, op, new
    if op == "append":
        parts.append(section(rng, len(parts), kind))
        return "\n\n\n".join(parts), op, parts[-1]
    i = rng.randrange(1, len(parts))
    if op == "reflow" and kind != "python":
        width = rng.choice((72, 80, 100))
        blocks = parts[i].split("\n\n")
        parts[i] = "\n\n".join(b if b.startswith(("#", "- "))
                               else textwrap.fill(re.sub(r"\s+", " ", b), width) for b in blocks)
        return "\n\n\n".join(parts), op, parts[i]
    parts[i] = section(rng, i, kind)
    return "\n\n\n".join(parts), "rewrite_section", parts[i]
