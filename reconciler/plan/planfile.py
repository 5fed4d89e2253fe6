"""Saved plans: `plan --out FILE` writes one, `apply FILE` applies exactly it, or refuses it as stale."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.desired import DesiredState
from reconciler.errors import StalePlanError, UserError
from reconciler.observed import ObservedState
from reconciler.plan.model import Plan
from reconciler.state import atomic
from reconciler.state.model import Lock


def load(path: str) -> Plan | None:
    """The plan saved at `path` by `plan --out`, or None when `path` is not one (manifests, a directory).

    Known by content, whatever the file is called: a JSON object with `formatVersion`. Its keys are sorted,
    so that key may come after a long list of changes: the whole file is parsed, not a head of it.
    """
    try:
        data = json.loads(atomic.read_regular(Path(path), follow_symlinks=True) or b"")
    except (OSError, ValueError):
        return None  # YAML (or unreadable): the manifest loader reports it
    if not isinstance(data, dict) or "formatVersion" not in data:
        return None
    try:
        return Plan.from_json(data)
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: not a saved plan this reconciler can apply ({err}); "
                        "run `reconciler plan --out FILE` again") from None


def check_fresh(saved: Plan, lock: Lock | None, desired: DesiredState, observed: ObservedState) -> None:
    """Refuse a saved plan when anything it was computed from has moved since."""
    lineage = lock.lineage if lock else ""
    serial = lock.serial if lock else 0
    if (saved.lock_lineage, saved.lock_serial) != (lineage, serial):
        raise StalePlanError(f"the saved plan is stale: the lock moved from serial {saved.lock_serial} to "
                             f"{serial} since it was made (another apply ran); run `reconciler plan` again")
    if saved.desired_fingerprint != desired.fingerprint():
        raise StalePlanError("the saved plan is stale: the manifests changed since it was made; "
                             "run `reconciler plan` again")
    if saved.observed_fingerprint != observed.fingerprint():
        raise StalePlanError("the saved plan is stale: live resources changed since it was made "
                             "(a job finished, or something was edited out of band); run `reconciler plan` again")
