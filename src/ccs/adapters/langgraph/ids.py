"""Unambiguous artifact ids for LangGraph ``(namespace, key)`` pairs.

An artifact id is ``<prefix>/`` followed by the JSON array ``[*namespace, key]`` (compact, UTF-8).
JSON quoting makes the encoding injective: ``(("a:b",), "c")`` and ``(("a",), "b:c")`` can never
share an id, whatever characters the labels hold. Each element is encoded on its own, so the ids
of every item under a namespace prefix ``(p1, ..., pn)`` start with the same string
``<prefix>/["p1",...,"pn",`` — which is how ``search`` and ``list_namespaces`` find them with
one prefix scan of the engine.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

from langgraph.store.base import InvalidNamespaceError, validate_op_namespace

from ccs.protocol.errors import InvalidIdentifier, InvalidNamespace


class NamespaceError(InvalidNamespace, InvalidNamespaceError):
    """A bad namespace: typed like every error of the library (code ``invalid_namespace``), and
    still a LangGraph ``InvalidNamespaceError`` for code written against ``InMemoryStore``."""


def typed_namespace_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` (a ``BaseStore`` method that checks namespaces itself) raising ``NamespaceError``
    where LangGraph raises its plain ``InvalidNamespaceError``."""
    if inspect.iscoroutinefunction(method):
        @functools.wraps(method)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await method(*args, **kwargs)
            except InvalidNamespaceError as exc:
                raise exc if isinstance(exc, NamespaceError) else NamespaceError(str(exc)) from None
        return async_wrapper

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except InvalidNamespaceError as exc:
            raise exc if isinstance(exc, NamespaceError) else NamespaceError(str(exc)) from None
    return wrapper


def validate_namespace(op: Any) -> None:
    """LangGraph's own checks of an operation's namespace, raising ``NamespaceError``."""
    try:
        validate_op_namespace(op)
    except InvalidNamespaceError as exc:
        raise NamespaceError(str(exc)) from None

_CACHE_LIMIT = 65536


def _dump(label: str) -> str:
    return json.dumps(label, ensure_ascii=False)


class IdCodec:
    """Encodes and decodes ids for one store ``prefix``; memoizes both directions."""

    def __init__(self, prefix: str = "lg") -> None:
        if not isinstance(prefix, str) or not prefix or "[" in prefix or prefix.startswith("~"):
            raise InvalidIdentifier(
                f"store prefix must be a non-empty string without '[', not starting with '~';"
                f" got {prefix!r}")
        self.head = prefix + "/"
        self._enc: dict[tuple[tuple[str, ...], str], str] = {}
        self._dec: dict[str, tuple[tuple[str, ...], str]] = {}

    def encode(self, namespace: tuple[str, ...], key: str) -> str:
        try:
            return self._enc[(namespace, key)]
        except (KeyError, TypeError):
            pass
        check_labels(namespace)
        if not isinstance(key, str):
            raise InvalidIdentifier(f"store keys are strings, got {type(key).__name__}")
        aid = self.head + "[" + ",".join(_dump(part) for part in (*namespace, key)) + "]"
        if len(self._enc) >= _CACHE_LIMIT:
            self._enc.clear()
        self._enc[(tuple(namespace), key)] = aid
        return aid

    def namespace_prefix(self, namespace_prefix: tuple[str, ...]) -> str:
        """The id prefix shared by every item whose namespace starts with ``namespace_prefix``."""
        return self.head + "[" + "".join(_dump(part) + "," for part in namespace_prefix)

    def decode(self, artifact_id: str) -> tuple[tuple[str, ...], str] | None:
        """``(namespace, key)`` of an id of this store, or None for any other id."""
        hit = self._dec.get(artifact_id)
        if hit is not None:
            return hit
        if not artifact_id.startswith(self.head + "["):
            return None
        try:
            parts = json.loads(artifact_id[len(self.head):])
        except ValueError:
            return None
        if not isinstance(parts, list) or len(parts) < 2 or not all(isinstance(p, str) for p in parts):
            return None
        out = (tuple(parts[:-1]), parts[-1])
        if len(self._dec) >= _CACHE_LIMIT:
            self._dec.clear()
        self._dec[artifact_id] = out
        return out


def check_labels(namespace: tuple[str, ...]) -> None:
    """LangGraph's rules for namespace labels: non-empty strings without '.' or NUL."""
    if not isinstance(namespace, tuple | list):
        raise NamespaceError(f"namespace must be a tuple of strings, got {namespace!r}")
    for label in namespace:
        if not isinstance(label, str) or not label or "." in label or "\x00" in label:
            raise NamespaceError(
                f"Invalid namespace label {label!r} in {namespace!r}: labels must be non-empty strings"
                " without periods or NUL bytes")


def ttl_id(artifact_id: str) -> str:
    """Id of the side artifact that holds TTL refreshes of ``artifact_id`` (see ``docs.py``).

    It starts with ``~``, so it never falls under a store prefix scan."""
    return "~ttl/" + artifact_id
