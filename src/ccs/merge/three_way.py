"""Three-way merges: ``(base, theirs, yours) -> merged``, or ``MergeConflict`` with the regions.

Pure functions, no I/O. ``base`` is the content the write was derived from, ``theirs`` the
current content, ``yours`` what the write carries. The rules (docs/merge.md):

Text (``str``, and ``bytes`` that are UTF-8) is merged by lines with ``merge3``: a change on one
side only is taken, the same change on both sides is taken once, and changes on both sides to the
same or adjacent lines (no unchanged line between them) conflict. Two insertions at the same
place (two appends to the end) conflict too: their order is not ours to choose.

JSON objects merge key by key: a key changed on one side only takes that side's value; changed
identically on both sides, that value; a key whose value is an object on all three sides merges
recursively; any other key changed on both sides to different values conflicts, and so does a key
deleted on one side and modified on the other (deleted on both: deleted). Lists and other values
are atomic: taken whole from the side that changed them, equal changes agree, different changes
conflict (no element-wise merge of lists: reordering and removals have no safe meaning).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ccs.protocol.errors import InvalidArgument, MergeConflict

MergeFn = Callable[[Any, Any, Any], Any]
_ABSENT: Any = object()  # a key missing from one side of a JSON object merge
AUTO = "auto"


def merge_text(base: str, theirs: str, yours: str) -> str:
    """Line-wise three-way merge; raises ``MergeConflict`` listing the overlapping regions."""
    try:
        import merge3
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InvalidArgument("merge='auto' of text needs merge3: pip install 'agent-coherence[merge]'",
                              parameter="merge") from exc
    if theirs in (base, yours):
        return yours
    if yours == base:
        return theirs
    b, t, y = base.splitlines(True), theirs.splitlines(True), yours.splitlines(True)
    out: list[str] = []
    regions: list[dict[str, Any]] = []
    for region in merge3.Merge3(b, t, y).merge_regions():
        kind = region[0]
        if kind == "unchanged":
            out.extend(b[region[1]:region[2]])
        elif kind in ("a", "same"):
            out.extend(t[region[1]:region[2]])
        elif kind == "b":
            out.extend(y[region[1]:region[2]])
        else:
            _, z1, z2, t1, t2, y1, y2 = region
            regions.append({"at": f"line {z1 + 1}", "base": "".join(b[z1:z2]),
                            "theirs": "".join(t[t1:t2]), "yours": "".join(y[y1:y2])})
    if regions:
        raise MergeConflict(f"{len(regions)} region(s) changed on both sides", regions=regions)
    return "".join(out)


def merge_json(base: Any, theirs: Any, yours: Any, path: str = "$") -> Any:
    """Key-wise merge of JSON values (rules in the module docstring)."""
    regions: list[dict[str, Any]] = []
    merged = _merge_value(base, theirs, yours, path, regions)
    if regions:
        raise MergeConflict(f"{len(regions)} key(s) changed on both sides", regions=regions)
    return merged


def _merge_value(base: Any, theirs: Any, yours: Any, path: str, regions: list[dict[str, Any]]) -> Any:
    if _same(theirs, yours) or _same(base, theirs):
        return yours
    if _same(base, yours):
        return theirs
    if all(isinstance(v, dict) for v in (base, theirs, yours)):
        out: dict[str, Any] = {}
        for key in sorted({*base, *theirs, *yours}):
            v = _merge_value(base.get(key, _ABSENT), theirs.get(key, _ABSENT), yours.get(key, _ABSENT),
                             f"{path}.{key}", regions)
            if v is not _ABSENT:
                out[key] = v
        return out
    regions.append({"at": path, "base": _shown(base), "theirs": _shown(theirs), "yours": _shown(yours)})
    return yours


def _same(a: Any, b: Any) -> bool:
    if a is _ABSENT or b is _ABSENT:
        return a is b
    # JSON equality: 1 == 1.0 == True in Python, but they are different JSON values
    return type(a) is type(b) and a == b if not isinstance(a, dict | list) else _canon(a) == _canon(b)


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def _shown(v: Any) -> Any:
    return "<absent>" if v is _ABSENT else v


def merge_values(kind: str, base: Any, theirs: Any, yours: Any, how: str | MergeFn) -> Any:
    """Merge decoded values of an artifact of ``kind`` (``str``, ``bytes``, ``json``).

    ``how`` is ``"auto"`` (the rules above) or a function ``(base, theirs, yours) -> merged``
    that raises ``MergeConflict`` to refuse. ``theirs`` is ``None`` when the artifact was
    deleted since the base: a delete against a modification conflicts under ``"auto"``."""
    if callable(how):
        return how(base, theirs, yours)
    if theirs is None:
        if _same_any(base, yours):
            return None  # you changed nothing: stays deleted
        raise MergeConflict("the artifact was deleted since your read, and you modified it",
                            regions=[{"at": "$", "base": _preview(base), "theirs": "<deleted>",
                                      "yours": _preview(yours)}])
    if isinstance(base, str) and isinstance(theirs, str) and isinstance(yours, str):
        return merge_text(base, theirs, yours)
    if isinstance(base, bytes) and isinstance(theirs, bytes) and isinstance(yours, bytes):
        try:
            texts = [b.decode("utf-8") for b in (base, theirs, yours)]
        except UnicodeDecodeError:
            return _atomic(base, theirs, yours)
        return merge_text(*texts).encode("utf-8")
    if kind == "json" or not isinstance(yours, str | bytes):
        return merge_json(base, theirs, yours)
    return _atomic(base, theirs, yours)


def _same_any(a: Any, b: Any) -> bool:
    return a == b if isinstance(a, str | bytes) else _same(a, b)


def _atomic(base: Any, theirs: Any, yours: Any) -> Any:
    if _same_any(theirs, yours) or _same_any(base, theirs):
        return yours
    if _same_any(base, yours):
        return theirs
    raise MergeConflict("both sides replaced the whole value",
                        regions=[{"at": "$", "base": _preview(base), "theirs": _preview(theirs),
                                  "yours": _preview(yours)}])


def _preview(v: Any) -> Any:
    if isinstance(v, bytes):
        return f"<{len(v)} bytes>"
    return v


def check_how(how: Any) -> str | MergeFn:
    """``how`` if it names a merge (``"auto"`` or a callable), else ``InvalidArgument``."""
    if how == AUTO or callable(how):
        return how
    raise InvalidArgument(f"merge must be 'auto' or a function (base, theirs, yours) -> merged, "
                          f"got {how!r:.60}", parameter="merge")
