"""What reconciler may do to a live resource (`policy:` of a manifest): a pydantic model, validated with the manifest
and part of its JSON Schema, and a frozen value the planner reads. Never part of the digest. Its own module so
that what reads no manifest (status, wait) imports no pydantic."""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Policy(BaseModel):
    """What the reconciler may do to the live resource; never part of the digest."""

    model_config = ConfigDict(frozen=True, extra="forbid", field_title_generator=lambda name, _: name)

    protect: bool = Field(False, description="true: never cancel, retire or delete this resource")
    onDelete: Literal["delete", "orphan"] = Field(
        "delete", description="what removing the manifest does: delete the live resource, or forget it")
    whileRunning: Literal["restart", "wait"] = Field(
        "restart", description="what a spec edit does to a running job: cancel and restart, or wait")
    previousVersion: Literal["retire", "keep"] = Field(
        "retire", description="the old model after a successful retrain: retire (delete) it, or keep it")
    onDataChange: Literal["report", "retrain"] = Field(
        "report", description="training data rewritten at the same gs:// URI: report it (a fact the plan shows), "
                              "or retrain on it")
    maxCost: float | None = Field(None, ge=0, description="refuse an apply whose estimated cost for this model "
                                                          "exceeds this many US dollars")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled (the manifest cache) as its values, and unpickled to one shared instance per distinct policy:
        10,000 manifests have a handful, and pydantic's own __setstate__ was a quarter of reading the cache."""
        return _policy, tuple(getattr(self, name) for name in Policy.model_fields)


@functools.lru_cache(maxsize=256)
def _policy(*values: Any) -> Policy:
    return Policy(**dict(zip(Policy.model_fields, values)))
