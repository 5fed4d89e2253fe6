"""Field diffs: what differs between the applied or live spec and the wanted one, path by path.

The only user of deepdiff, imported on first use: a plan with nothing to diff never pays for it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import replace
from typing import Any

from reconciler.desired import DesiredResource
from reconciler.policy import Policy
from reconciler.observed import Generation
from reconciler.plan.model import FieldDiff
from reconciler.state.model import LockEntry

_DEFAULT_POLICY = Policy().to_json()  # read, never changed: `policy` copies it


def immutable(entry: LockEntry, desired: DesiredResource) -> tuple[FieldDiff, ...]:
    """Applied against wanted immutable fields, scope included (a move to another project retrains)."""
    applied = {**(entry.spec.immutable or {}), "project": entry.project, "location": entry.location}
    wanted = {**desired.immutable, "project": desired.project, "location": desired.location}
    return values(applied, wanted)


def policy(entry: LockEntry, desired: DesiredResource) -> tuple[FieldDiff, ...]:
    """Policy as applied (the lock) against policy as written; only for an entry that records one."""
    if entry.spec.policy is None:
        return ()
    recorded = {**_DEFAULT_POLICY, **entry.spec.policy}  # a lock may spell out only what differs
    return tuple(replace(d, path=f"policy.{d.path}") for d in values(recorded, _as_written(desired.policy)))


@functools.lru_cache(maxsize=256)
def _as_written(policy: Policy) -> dict[str, Any]:
    """A policy's fields, read and never changed: 10,000 manifests have a handful of distinct policies."""
    return policy.to_json()


def mutable(desired: DesiredResource, current: Generation, entry: LockEntry | None = None) -> tuple[FieldDiff, ...]:
    """The fields the manifest sets, as live now against as written; fields it leaves alone are not drift.

    Labels: only the keys this tool owns are compared, the manifest's and those it applied before (`entry`);
    a key the manifest dropped that it applied is drift (removed), any other label (the service's system
    labels, someone else's) never is."""
    wanted, now = desired.mutable, current.live
    owned = entry.spec.owned_labels if entry else frozenset()
    if wanted.get("labels"):
        owned = owned.union(wanted["labels"])
    if owned or "labels" in wanted:  # owned labels exist only where the platform has labels
        wanted = {**wanted, "labels": dict(wanted.get("labels") or {})}
        live = {k: now.get(k) for k in wanted}
        live["labels"] = {k: v for k, v in (now.get("labels") or {}).items() if k in owned}
    else:
        live = {k: now.get(k) for k in wanted}
    return values(live, wanted)


_PATH_PART = re.compile(r"\['([^']*)'\]|\[(\d+)\]")


def values(before: Any, after: Any) -> tuple[FieldDiff, ...]:
    if before == after:  # the common case at hundreds of models in sync: skip DeepDiff entirely
        return ()
    from deepdiff import DeepDiff

    delta = DeepDiff(before, after, ignore_numeric_type_changes=True, verbose_level=2)
    diffs: list[FieldDiff] = []
    for kind, key in (("changed", "values_changed"), ("changed", "type_changes")):
        for path, change in delta.get(key, {}).items():
            diffs.append(FieldDiff(_path(path), change.get("old_value"), change.get("new_value"), kind))
    for kind, key in (("added", "dictionary_item_added"), ("added", "iterable_item_added")):
        for path, value in delta.get(key, {}).items():
            diffs.append(FieldDiff(_path(path), None, value, kind))
    for kind, key in (("removed", "dictionary_item_removed"), ("removed", "iterable_item_removed")):
        for path, value in delta.get(key, {}).items():
            diffs.append(FieldDiff(_path(path), value, None, kind))
    return tuple(sorted(diffs, key=lambda d: d.path))


def _path(deepdiff_path: str) -> str:
    parts = [m.group(1) if m.group(1) is not None else m.group(2) for m in _PATH_PART.finditer(deepdiff_path)]
    return ".".join(parts)
