"""What reconciler may do to a live resource (a manifest's `policy:`), as the planner and the lock read it: a frozen
value, never part of the digest. The manifest validates it (manifest.schema.Policy: the pydantic model, with the
JSON Schema); this value imports no pydantic, so that a plan whose manifests all come from the cache imports
none."""

from __future__ import annotations

import functools
from dataclasses import astuple, dataclass, fields
from typing import Any, Literal


@dataclass(frozen=True)
class Policy:
    """What the reconciler may do to the live resource; never part of the digest."""

    protect: bool = False
    onDelete: Literal["delete", "orphan"] = "delete"
    whileRunning: Literal["restart", "wait"] = "restart"
    previousVersion: Literal["retire", "keep"] = "retire"
    onDataChange: Literal["report", "retrain"] = "report"
    maxCost: float | None = None

    def to_json(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """Its fields by name; not `dataclasses.asdict`, which deep-copies every value (all of them scalars) and
        was most of an apply's planning time at 1,000 trains, asked for four times each."""
        values = {name: getattr(self, name) for name in _FIELDS}
        return {k: v for k, v in values.items() if v is not None} if exclude_none else values

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled (the manifest cache) as its values, and unpickled to one shared instance per distinct policy:
        10,000 manifests have a handful."""
        return intern, astuple(self)


_FIELDS = tuple(f.name for f in fields(Policy))


@functools.lru_cache(maxsize=256)
def intern(*values: Any) -> Policy:
    """The one shared Policy of these field values."""
    return Policy(*values)
