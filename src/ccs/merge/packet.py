"""Conflict packets: a refused write described so that a model can resolve it in one turn.

A packet says what the write was based on (its version), what changed since (a unified diff
base -> current, and who committed each version, from the engine's audit log), what the write
carried (a diff base -> yours), the conflicting regions of a ``MergeConflict``, and the call to
make next. It renders as text for a prompt (``.text``) and as JSON (``.to_json()``), sized to a
token budget: the header and the next call are always kept; the regions and the two diffs share
what is left, each cut at a line boundary with a marker saying how many lines were dropped, so the
same refusal under the same budget always renders the same packet.
"""

from __future__ import annotations

import contextlib
import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ccs.protocol.arguments import check_int
from ccs.protocol.audit import COMMITTED, DELETED
from ccs.protocol.errors import CoherenceError, ConflictError, MergeConflict, VersionConflict

CUT = "... [{n} more line(s) cut to fit the token budget]"


@dataclass(slots=True)
class RefusalContext:
    """What a refused write was based on and what it carried, attached to the error by the client.

    ``base`` is the base version's content when the client held it (its cached copy, checked
    against the version's hash); otherwise it is looked up among the versions the engine retains.
    ``coordinator`` answers those look-ups and the audit log, only when a packet is asked for."""

    artifact: str
    base_version: int | None
    yours: bytes | None  # None: the write was a delete
    kind: str
    coordinator: Any = None
    base: tuple[bytes | None, str] | None = None  # (content, kind) of the base version, if held
    # How an adapter's stored form reads in a diff (the LangGraph store shows the item's value,
    # not its stored envelope); None: ``as_text``.
    show: Callable[[tuple[bytes | None, str] | None], str | None] | None = None
    next_call: str | None = None  # the adapter's words for the next call ({artifact}, {version})

    def content(self, version: int | None) -> tuple[bytes | None, str] | None:
        """``(content, kind)`` of ``version`` (``(None, "deleted")`` for an absent one), or None
        when it is no longer retained."""
        if version is None:
            return None
        if version == self.base_version and self.base is not None:
            return self.base
        if version == 0:
            return None, "deleted"
        if self.coordinator is None:
            return None
        rec = self.coordinator.artifact(self.artifact)
        if rec is None:
            return None
        if version == rec.version:
            return self.coordinator.fetch(rec.content, self.artifact), rec.content.kind
        data = self.coordinator.content_at(self.artifact, version)
        return None if data is None else (data, self.kind if self.kind != "deleted" else "bytes")

    def changes(self, after: int | None, upto: int | None) -> list[dict[str, Any]]:
        """Who committed each version in ``(after, upto]``, from the audit log (oldest first)."""
        if self.coordinator is None or after is None or upto is None or upto <= after:
            return []
        out = []
        for e in self.coordinator.audit(self.artifact, limit=4 * (upto - after) + 64):
            if e.outcome in (COMMITTED, DELETED) and after < e.version <= upto:
                out.append({"version": e.version, "agent": e.agent_name, "op": e.op,
                            "outcome": e.outcome})
        return out


@dataclass(slots=True)
class ConflictPacket:
    code: str
    artifact: str | None
    message: str
    base_version: int | None
    current_version: int | None
    next_call: str
    changed_by: list[dict[str, Any]] = field(default_factory=list)
    since: str = ""  # unified diff base -> current
    current: str = ""  # the current content whole, instead of ``since`` when that is shorter
    yours: str = ""  # unified diff base -> what the write carried
    regions: str = ""  # the conflicting regions of a MergeConflict, rendered
    notes: list[str] = field(default_factory=list)
    truncated: bool = False
    tokens: int = 0
    counter: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "artifact": self.artifact, "message": self.message,
            "base_version": self.base_version, "current_version": self.current_version,
            "changed_by": self.changed_by, "diff_since_base": self.since,
            "current_content": self.current, "your_change": self.yours,
            "conflicting_regions": self.regions, "notes": self.notes,
            "next_call": self.next_call, "truncated": self.truncated, "tokens": self.tokens,
            "counter": self.counter,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def text(self) -> str:
        return _render(self, {n: getattr(self, n) for n in SECTIONS})

    def __str__(self) -> str:
        return self.text


def _who(changes: list[dict[str, Any]]) -> str:
    return "; ".join(f"v{c['version']} by {c['agent'] or 'unknown'}"
                     + (" (deleted)" if c["outcome"] == DELETED else "") for c in changes)


SECTIONS = ("regions", "since", "current", "yours")  # in the order a budget is shared out


def _render(p: ConflictPacket, parts: dict[str, str]) -> str:
    """The text form: compact (the error's full message is in the JSON form only)."""
    regions, since, current, yours = (parts.get(n, "") for n in SECTIONS)
    head = f"WRITE REFUSED [{p.code}] {p.artifact}: your write was based on v{p.base_version}, " \
           f"the current version is v{p.current_version}"
    lines = [head + (f" ({_who(p.changed_by)})." if p.changed_by else "."), *p.notes]
    if regions:
        lines += ["Conflicting regions (base / theirs / yours):", regions.rstrip("\n")]
    if since:
        lines += [f"Changed since your base (v{p.base_version} -> v{p.current_version}):",
                  since.rstrip("\n")]
    if current:
        lines += [f"Current content (v{p.current_version}; whole, as it is shorter than the diff):",
                  current.rstrip("\n")]
    if yours:
        lines += ["Your write (diff against your base):", yours.rstrip("\n")]
    lines.append(f"Nothing was written. Next: {p.next_call}")
    return "\n".join(lines)


def as_text(content: tuple[bytes | None, str] | None) -> str | None:
    """Content as the text a diff shows: JSON pretty-printed with sorted keys (one key a line)."""
    if content is None:
        return None
    data, kind = content
    if data is None or kind == "deleted":
        return ""
    if kind == "json":
        return pretty_json(json.loads(data))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(data)} bytes of binary content>\n"


def pretty_json(value: Any) -> str:
    """A JSON value as a diff shows it: one key a line, sorted."""
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def unified(a: str, b: str, a_name: str, b_name: str) -> str:
    """A unified diff without context lines: each hunk's header gives its place, and every
    context line would cost as many tokens as a changed one."""
    lines = difflib.unified_diff(a.splitlines(True), b.splitlines(True), a_name, b_name, n=0,
                                 lineterm="\n")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _regions_text(regions: list[dict[str, Any]]) -> str:
    out = []
    for r in regions:
        out.append(f"@ {r.get('at')}")
        for side in ("base", "theirs", "yours"):
            value = r.get(side)
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            body = text.rstrip("\n").split("\n") if text else ["<empty>"]
            out.extend(f"  {side:6}| {line}" for line in body)
    return "\n".join(out) + "\n" if out else ""


def default_next_call(err: ConflictError) -> str:
    aid, cur = err.artifact, err.current_version
    if isinstance(err, MergeConflict):
        return (f"resolve the conflicting regions, apply your change to version {cur}, and "
                f"commit_cas({aid!r}, {cur}, merged_value)")
    if isinstance(err, VersionConflict):
        return f"apply your change to version {cur} and commit_cas({aid!r}, {cur}, new_value)"
    return (f"reacquire({aid!r}) (returns version {cur}), apply your change to it and write "
            f"again; or write({aid!r}, value, merge='auto') if your edit does not overlap theirs")


def build_packet(err: ConflictError, budget_tokens: int | None = None, *,
                 next_call: str | None = None, counter: Any = None) -> ConflictPacket:
    if budget_tokens is not None:
        check_int("budget_tokens", budget_tokens, minimum=0)
    ctx: RefusalContext | None = err.context
    d = err.details
    base_version = d.get("base_version", d.get("expected_version"))
    if base_version is None and ctx is not None:
        base_version = ctx.base_version
    cur = err.current_version
    if next_call is None and ctx is not None and ctx.next_call is not None:
        next_call = ctx.next_call.format(artifact=err.artifact, version=cur)
    packet = ConflictPacket(err.code, err.artifact, err.message, base_version, cur,
                            next_call or default_next_call(err))
    regions = d.get("regions") or []
    packet.regions = _regions_text(regions)
    if counter is None:
        from ccs.tokens.counter import default_counter

        counter = default_counter(allow_approx=True)
    packet.counter = counter.name
    if ctx is not None:
        packet.changed_by = ctx.changes(base_version, cur)
        show = ctx.show or as_text
        base = show(ctx.content(base_version))
        current = show(ctx.content(cur))
        if base is None:
            packet.notes.append(f"The content of version {base_version} is no longer retained.")
        elif current is None:
            packet.notes.append(f"The content of version {cur} is no longer retained.")
        else:
            packet.since = unified(base, current, f"v{base_version}", f"v{cur}")
            if counter.count(current) <= counter.count(packet.since):
                packet.since, packet.current = "", current
        if base is not None:
            yours = show((ctx.yours, ctx.kind))
            packet.yours = unified(base, yours or "", f"v{base_version}", "yours")
    _fit(packet, budget_tokens, counter.count)
    return packet


def _fit(p: ConflictPacket, budget: int | None, count: Callable[[str], int]) -> None:
    """Cut the regions and diffs (in that order of priority) to fit ``budget`` tokens."""
    full = p.text
    p.tokens = count(full)
    if budget is None or p.tokens <= budget:
        return
    p.truncated = True
    names = [n for n in SECTIONS if getattr(p, n)]
    sections = {n: getattr(p, n).splitlines(True) for n in names}
    kept = {n: CUT.format(n=len(sections[n])) + "\n" for n in names}
    left = budget - count(_render(p, kept)) - 8  # slack: joins and markers
    for i, name in enumerate(names):  # each takes at most an equal share of what is left
        share = left // (len(names) - i) if left > 0 else 0
        lines = sections[name]
        lo, hi = 0, len(lines)
        while lo < hi:  # the most lines whose cost fits the share
            mid = (lo + hi + 1) // 2
            if count("".join(lines[:mid])) <= share:
                lo = mid
            else:
                hi = mid - 1
        text = "".join(lines[:lo])
        left -= count(text)
        if lo < len(lines):
            text += CUT.format(n=len(lines) - lo) + "\n"
        kept[name] = text
    for name in names:
        setattr(p, name, kept[name])
    p.tokens = count(p.text)


TOOL_BUDGET = 1500  # tokens of a packet in a tool result (the header and next call are never cut)


def with_packet(payload: dict[str, Any], err: BaseException, *, next_call: str | None = None,
                budget_tokens: int = TOOL_BUDGET) -> dict[str, Any]:
    """``payload`` (a tool's refusal result) with ``conflict_packet``: the packet's text, when
    ``err`` is a refused write the client described. ``next_call`` may name ``{artifact}`` and
    ``{version}`` (the current version). Describing needs engine reads; if those fail the
    refusal is returned without a packet, never turned into another error."""
    if not isinstance(err, ConflictError) or (err.context is None and not err.details.get("regions")):
        return payload
    if next_call is not None:
        next_call = next_call.format(artifact=err.artifact, version=err.current_version)
    with contextlib.suppress(CoherenceError):
        payload["conflict_packet"] = err.conflict_packet(budget_tokens, next_call=next_call).text
    return payload
