"""Saved plans: `plan --out FILE` writes one; `apply FILE` carries out exactly what it shows, or refuses it.

A saved plan is never executed on its own authority. `apply FILE` plans again from this checkout's manifests,
state and live resources, and carries out a change only when the fresh plan has the very same change and
nothing that change acts on or depends on moved since the plan was made (`binding`). So a plan is portable
(its root is relative: it applies from any checkout of the same manifests), an edited plan is refused, and an
unrelated apply meanwhile does not make it stale. Follow-ups a reviewed plan authorized (`then:`) are carried
out by whichever apply finds them ready.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from reconciler.errors import StalePlanError, UserError
from reconciler.plan import binding
from reconciler.plan.model import AlteredPlan, Change, Plan
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
    except AlteredPlan as err:
        raise StalePlanError(f"{path}: refusing the saved plan: {err}; nothing was done. Review a fresh "
                             "`reconciler plan --out FILE` instead") from None
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserError(f"{path}: not a saved plan this reconciler can apply ({err}); "
                        "run `reconciler plan --out FILE` again") from None


def root_of(saved: Plan, path: str) -> str:
    """The manifest root a saved plan names, in this checkout: relative to the working directory."""
    root = Path(saved.root or ".")
    if root.is_absolute():  # written by `plan` on a root outside the working directory: not portable
        return str(root)
    if not root.exists():
        raise UserError(f"{path}: the plan was made for the manifests at {saved.root!r}, relative to the "
                        f"directory `reconciler plan` ran in; there is no {saved.root!r} here "
                        f"({Path.cwd()}): run `reconciler apply {path}` from the checkout's top directory")
    return str(root)


def verify(saved: Plan, fresh: Plan, lock: Lock | None, now: Mapping[str, Mapping[str, str]]) -> Plan:
    """The changes of `saved` that may be carried out now, as `fresh` (planned now, the same way) has them, plus
    reviewed follow-ups that are ready. `now`: binding.inputs of the names the saved plan is bound to, as they are
    now. Raises StalePlanError, saying what moved, when anything the saved plan
    acts on moved, and when the fresh plan disagrees with it about the same inputs (the file was altered)."""
    if saved.digest_algorithm != fresh.digest_algorithm:
        raise StalePlanError(f"the saved plan is stale: it was made with digest algorithm {saved.digest_algorithm}, "
                             f"this reconciler uses {fresh.digest_algorithm}; run `reconciler plan` again")
    lineage = lock.lineage if lock else ""
    if saved.lock_lineage and lineage and saved.lock_lineage != lineage:
        raise StalePlanError(f"the saved plan was made against other state (lineage {saved.lock_lineage}, this "
                             f"checkout's state is lineage {lineage}): refusing it, nothing was done")
    follow_ups = fresh.reviewed_follow_ups
    if lock and saved.id in lock.applied_plans:  # applied before: only its follow-ups are left to do
        return replace(fresh, changes=follow_ups)
    acted = _by_name(c for c in saved.changes if c.is_change)
    unbound = sorted(set(acted) - set(saved.inputs))
    if unbound:
        raise StalePlanError(f"the saved plan was altered: it acts on {', '.join(unbound)} but records nothing it "
                             "was made from; refusing it, nothing was done")
    _refuse_moved(saved, now, fresh.state_digest, lock)
    now = _by_name(c for c in fresh.changes if c.is_change)
    for name, changes in acted.items():
        if [_identity(c) for c in changes] != [_identity(c) for c in now.get(name, [])]:
            said = "; ".join(f"{c.action} {c.name}" for c in changes)
            planned = "; ".join(f"{c.action} {c.name}" for c in now.get(name, [])) or f"no change to {name}"
            raise StalePlanError(f"the saved plan was altered (or made by another reconciler version): it says "
                                 f"{said!r}, but the same manifests, state and live resources plan {planned!r} "
                                 "now; refusing it, nothing was done")
    keep = [c for c in fresh.changes if c.name in acted and c.is_change]
    keep += [c for c in follow_ups if c.name not in acted]
    return replace(fresh, changes=tuple(keep))


def left_out(carried: Plan, fresh: Plan) -> list[Change]:
    """Changes the fresh plan has that the reviewed plan did not show: never carried out on its authority."""
    shown = {c.name for c in carried.changes}
    return [c for c in fresh.changes if c.is_change and c.name not in shown]


def _refuse_moved(saved: Plan, now: Mapping[str, Mapping[str, str]], state_digest: str, lock: Lock | None) -> None:
    moved = binding.moved(saved.inputs, now)
    if not moved:
        return
    same_serial = lock is not None and saved.lock_serial == lock.serial and saved.state_digest != state_digest
    lines = []
    for name, parts in sorted(moved.items()):
        what = [binding.WHAT_MOVED[p] for p in parts]
        if "state" in parts and same_serial:
            what[parts.index("state")] = "its state entry differs at the same serial (the plan was made against " \
                                         "other state, such as another branch's lock)"
        lines.append(f"{name}: {'; '.join(what)}")
    raise StalePlanError("the saved plan is stale: what it acts on moved since it was made\n  "
                         + "\n  ".join(lines) + "\nnothing was done; run `reconciler plan` again and review it")


def _by_name(changes) -> dict[str, list[Change]]:
    found: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        found[change.name].append(change)
    return dict(found)


def _identity(change: Change) -> tuple:
    """What a change does, as two plans made from the same inputs must agree on (its prose aside)."""
    return (change.action, change.targets, change.digest, change.after, change.diffs,
            json.dumps(change.spec, sort_keys=True, default=str), change.moved_from)
