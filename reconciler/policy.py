"""What reconciler may do to a live resource (a manifest's `policy:`), as the planner and the lock read it: a frozen
value, never part of the digest. The manifest validates it (manifest.schema.Policy: the pydantic model, with the
JSON Schema); this value imports no pydantic, so that a plan whose manifests all come from the cache imports
none."""

from __future__ import annotations

import functools
from dataclasses import asdict, astuple, dataclass
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
        fields = asdict(self)
        return {k: v for k, v in fields.items() if v is not None} if exclude_none else fields


    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled (the manifest cache) as its values, and unpickled to one shared instance per distinct policy:
        10,000 manifests have a handful."""
        return intern, astuple(self)


@functools.lru_cache(maxsize=256)
def intern(*values: Any) -> Policy:
    """The one shared Policy of these field values."""
    return Policy(*values)
