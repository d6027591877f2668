"""``@frozen``: immutable records that are cheap to build.

Every commit builds a handful of records (the artifact record, its reply, an audit entry, ...).
A ``@dataclass(frozen=True)`` builds each field with a call to ``object.__setattr__``, which made
record construction a large share of a commit. A ``@frozen`` class keeps what the protocol relies
on (assigning or deleting a field raises ``FrozenInstanceError``; equality, hashing, ``repr`` and
pickling by field values, as a frozen dataclass has them) and builds an instance with plain slot
assignments: ``__new__`` fills a private mutable twin that has the same slots, then switches the
instance's class to the frozen one, whose ``__setattr__`` refuses every later assignment.

Fields are the class annotations, in order; a class attribute of the same name is the default
(defaults must be immutable values: they are shared by every instance). The class carries the
dataclass field table too, so ``dataclasses.fields``, ``replace`` and ``asdict`` work on it.
"""

from __future__ import annotations

import inspect
from dataclasses import FrozenInstanceError, field, make_dataclass
from typing import Any, TypeVar

C = TypeVar("C", bound=type)

def frozen(cls: C) -> C:
    names = tuple(inspect.get_annotations(cls))
    defaults = {n: cls.__dict__[n] for n in names if n in cls.__dict__}
    # The mutable twin: only __new__ below ever assigns through it.
    twin = type(f"_{cls.__name__}Fields", (), {"__slots__": names, "__module__": cls.__module__})
    namespace = {k: v for k, v in cls.__dict__.items()
                 if k not in names and k not in ("__dict__", "__weakref__")}
    namespace["__slots__"] = ()
    namespace["__match_args__"] = names
    new_cls = type(cls.__name__, (twin,), namespace)
    new_cls.__qualname__ = cls.__qualname__
    env: dict[str, Any] = {"_twin": twin, "_new": object.__new__,
                           "_set_class": object.__setattr__, "_defaults": defaults}
    params = ", ".join(f"{n}=_defaults[{n!r}]" if n in defaults else n for n in names)
    fill = "".join(f"    self.{n} = {n}\n" for n in names)
    values = "".join(f"self.{n}, " for n in names)
    other_values = "".join(f"other.{n}, " for n in names)
    source = (
        f"def __new__(cls, {params}):\n    self = _new(_twin)\n{fill}"
        f"    _set_class(self, '__class__', cls)\n    return self\n"
        f"def _values(self):\n    return ({values})\n"
        f"def __eq__(self, other):\n"
        f"    if other.__class__ is not self.__class__:\n        return NotImplemented\n"
        f"    return ({values}) == ({other_values})\n"
    )
    exec(source, env)  # generated from the class's own field names only
    new_cls.__new__ = env["__new__"]
    new_cls._values = env["_values"]
    new_cls.__eq__ = env["__eq__"]
    new_cls.__hash__ = _hash
    new_cls.__setattr__ = _refuse_set
    new_cls.__delattr__ = _refuse_delete
    new_cls.__reduce__ = _reduce
    if "__repr__" not in cls.__dict__:
        new_cls.__repr__ = _repr
    new_cls.__frozen_fields__ = names
    table = make_dataclass(cls.__name__, [_field_spec(n, defaults) for n in names], frozen=True)
    new_cls.__dataclass_fields__ = table.__dataclass_fields__
    new_cls.__dataclass_params__ = table.__dataclass_params__
    return new_cls  # type: ignore[return-value]


def _field_spec(name: str, defaults: dict[str, Any]) -> tuple[Any, ...]:
    if name not in defaults:
        return name, Any
    default = defaults[name]
    if default.__class__.__hash__ is None:  # e.g. the empty sharers mapping: shared, never changed
        return name, Any, field(default_factory=lambda: default)
    return name, Any, default


def _hash(self: Any) -> int:
    return hash(self._values())


def _refuse_set(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _refuse_delete(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _reduce(self: Any) -> tuple[Any, tuple[Any, ...]]:
    return self.__class__, self._values()


def _repr(self: Any) -> str:
    fields = ", ".join(f"{n}={v!r}" for n, v in zip(self.__frozen_fields__, self._values(), strict=True))
    return f"{self.__class__.__qualname__}({fields})"
