"""Package namespaces that import their members on first use (PEP 562).

``import ccs.client.http`` runs the ``__init__`` of every package above it. Eager ``__init__``s
would pull the whole core, and its compiled dependencies (msgspec, orjson), into the HTTP client,
which promises the standard library only; so ``ccs``, ``ccs.client``, ``ccs.coordinator`` and
``ccs.protocol`` name their members here and import each one when it is first asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy(namespace: dict[str, Any], members: dict[str, str]
         ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of a package whose ``members`` (name: the
    module defining it) are imported on first use and then kept in ``namespace``."""
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = members.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *members})

    return __getattr__, __dir__
