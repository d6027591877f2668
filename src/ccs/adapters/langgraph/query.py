"""Search and listing semantics, written to give the same results as LangGraph's ``InMemoryStore``.

* filters: a key maps to a value compared for equality (nested dicts match key by key, lists
  element by element), or to a dict of operators ``$eq $ne $gt $gte $lt $lte``;
* vector search: the query is embedded with the store's ``index`` embedder and compared by cosine
  similarity with every vector of an item (one per indexed path); an item scores its best vector.
  Items without vectors follow the scored ones (as ``InMemoryStore`` does) when the page has room;
* ``list_namespaces``: ``prefix``/``suffix`` conditions with ``"*"`` matching any one label,
  ``max_depth`` truncation, sorted, then ``offset``/``limit``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from langgraph.store.base import IndexConfig, MatchCondition, get_text_at_path, tokenize_path

_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")


def matches_filter(value: dict[str, Any], flt: dict[str, Any] | None) -> bool:
    if not flt:
        return True
    return all(_match(value.get(k), want) for k, want in flt.items())


def _match(have: Any, want: Any) -> bool:
    if isinstance(want, dict):
        if any(k.startswith("$") for k in want):
            return all(_operator(have, op, arg) for op, arg in want.items())
        return isinstance(have, dict) and all(_match(have.get(k), v) for k, v in want.items())
    if isinstance(want, list | tuple):
        return (isinstance(have, list | tuple) and len(have) == len(want)
                and all(_match(h, w) for h, w in zip(have, want, strict=True)))
    return have == want


def _operator(have: Any, op: str, arg: Any) -> bool:
    if op == "$eq":
        return have == arg
    if op == "$ne":
        return have != arg
    if op not in _OPERATORS:
        raise ValueError(f"Unsupported operator: {op}")
    try:
        a, b = float(have), float(arg)
    except (TypeError, ValueError):
        return False  # a missing or non-numeric field never matches (InMemoryStore raises here)
    return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]


def namespace_matches(namespace: tuple[str, ...], conditions: Sequence[MatchCondition] | None) -> bool:
    for cond in conditions or ():
        path = tuple(cond.path)
        if len(namespace) < len(path):
            return False
        if cond.match_type == "prefix":
            pairs = zip(namespace, path, strict=False)
        elif cond.match_type == "suffix":
            pairs = zip(reversed(namespace), reversed(path), strict=False)
        else:
            raise ValueError(f"Unsupported match type: {cond.match_type}")
        if any(p != "*" and n != p for n, p in pairs):
            return False
    return True


def page_namespaces(namespaces: Iterable[tuple[str, ...]], conditions: Sequence[MatchCondition] | None,
                    max_depth: int | None, limit: int, offset: int) -> list[tuple[str, ...]]:
    picked = {ns for ns in namespaces if namespace_matches(ns, conditions)}
    if max_depth is not None:
        picked = {ns[:max_depth] for ns in picked}
    return sorted(picked)[offset:offset + limit]


# --- vectors ------------------------------------------------------------------------------------

def index_fields(index: IndexConfig) -> list[tuple[str, Any]]:
    return [(p, p if p == "$" else tokenize_path(p)) for p in (index.get("fields") or ["$"])]


def texts_to_embed(value: dict[str, Any], op_index: Any,
                   fields: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    """``(path label, text)`` pairs an item contributes to the vector index."""
    if op_index is False:
        return []
    paths = fields if op_index is None else [(p, tokenize_path(p)) for p in op_index]
    out = []
    for path, tokens in paths:
        texts = get_text_at_path(value, tokens)
        if len(texts) == 1:
            out.append((path, texts[0]))
        else:
            out.extend((f"{path}.{i}", t) for i, t in enumerate(texts))
    return out


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def rank(query_vec: Sequence[float] | None, candidates: list[tuple[Any, dict[str, list[float]] | None]],
         limit: int, offset: int) -> list[tuple[Any, float | None]]:
    """Page of ``(item, score)``: by best cosine score when a query vector is given, else in order."""
    if query_vec is None:
        return [(c, None) for c, _ in candidates[offset:offset + limit]]
    scored, scoreless = [], []
    for item, vectors in candidates:
        if vectors:
            scored.append((max(cosine(query_vec, v) for v in vectors.values()), item))
        else:
            scoreless.append(item)
    scored.sort(key=lambda pair: pair[0], reverse=True)
    page: list[tuple[Any, float | None]] = [(item, score) for score, item in scored[offset:offset + limit]]
    if len(page) < limit:
        page.extend((item, None) for item in scoreless[:limit - len(page)])
    return page
