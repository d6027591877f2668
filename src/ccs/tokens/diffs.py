"""Anchored line diffs: a unified diff of the current text against one fixed base (the pin), and
the inverse, so a reader holding the base can rebuild the current text exactly.

Texts are split on ``"\\n"`` (not ``splitlines``) so a trailing newline survives the round trip.
"""

from __future__ import annotations

import difflib
import functools
import re

from ccs.protocol.errors import InvalidArgument

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@functools.lru_cache(maxsize=64)
def anchored_diff(base: str, current: str, context: int = 1) -> str:
    """Unified-diff hunks (no file header) that turn ``base`` into ``current`` (memoized: every
    agent of a fleet renders the same diff against the same pin)."""
    lines = difflib.unified_diff(base.split("\n"), current.split("\n"), n=context, lineterm="")
    return "\n".join(line for i, line in enumerate(lines) if i >= 2)


def apply_diff(base: str, diff: str) -> str:
    """Apply hunks produced by :func:`anchored_diff` to ``base``; a hunk that does not match the
    base raises :class:`InvalidArgument` (never a best-effort merge)."""
    old = base.split("\n")
    out: list[str] = []
    at = 0  # next unread line of ``old``
    lines = diff.split("\n") if diff else []
    i = 0
    while i < len(lines):
        m = _HUNK.match(lines[i])
        if not m:
            raise InvalidArgument(f"not a hunk header: {lines[i]!r}", argument="diff",
                                  recover="pass the diff anchored_diff produced for this base")
        start, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
        first = start if count == 0 else start - 1  # a pure insertion names the line before it
        if first < at or first > len(old):
            raise InvalidArgument("hunks overlap or run past the base", argument="diff",
                                  recover="pass the diff anchored_diff produced for this base")
        out.extend(old[at:first])
        at = first
        i += 1
        while i < len(lines) and not lines[i].startswith("@@"):
            tag, text = lines[i][:1], lines[i][1:]
            if tag in (" ", "-"):
                if at >= len(old) or old[at] != text:
                    raise InvalidArgument(f"hunk does not match the base at line {at + 1}",
                                          argument="diff", recover="diff against the same base")
                if tag == " ":
                    out.append(text)
                at += 1
            elif tag == "+":
                out.append(text)
            else:
                raise InvalidArgument(f"bad diff line {lines[i]!r}", argument="diff",
                                      recover="pass the diff anchored_diff produced for this base")
            i += 1
    out.extend(old[at:])
    return "\n".join(out)
