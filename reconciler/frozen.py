"""Frozen dataclass values by the ten thousand: the lock's entries as decoded, the generations a listing is joined
into, a plan's situations and no-ops.

`made`: a frozen dataclass's generated __init__ sets each field through object.__setattr__; for a 19-field
Generation that was a fifth of joining 10,000 listed jobs and half of decoding a lock. `made` gives the same
value (equal, hashing and printing alike) from a dict that names every field. Only for classes that check
nothing when made (no __post_init__, no slots): the caller names every field.

`once`: a property of a frozen value worked out on first use, then kept on the instance."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


def made(cls: type[_T], fields: dict[str, Any]) -> _T:
    """`cls(**fields)`, `fields` naming every field of `cls` and becoming the instance's own __dict__."""
    value = object.__new__(cls)
    object.__setattr__(value, "__dict__", fields)
    return value


def defaults(cls: type) -> dict[str, Any]:
    """The fields of `cls` that have a default value (not those made by a default factory: each value needs its
    own, and the caller makes them)."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


class once:  # noqa: N801 - used as a decorator, like the property it is
    """functools.cached_property as Python 3.12 has it: worked out on first use, then an attribute of the
    instance (which hides this). Python 3.11's takes a lock on every first use: more than the value cost, once
    per manifest of a plan."""

    def __init__(self, compute: Callable[[Any], Any]):
        self.compute, self.name, self.__doc__ = compute, compute.__name__, compute.__doc__

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.compute(instance)
        return value
