"""What a saved plan was made from, per manifest name: digests of its manifest, its state entry and its live
generations. `apply PLANFILE` compares them with what it finds now, one name at a time, so that a plan goes
stale only when something it acts on (or depends on) moved, and can say exactly what moved.

Pure: digests of values the caller already holds (no I/O, no clock).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.desired import DesiredResource, DesiredState
from reconciler.observed import ObservedState
from reconciler.plan.model import Change
from reconciler.state import codec
from reconciler.state.model import Lock

PARTS = ("manifest", "state", "live")  # what each name's inputs hold, in the order a message names them
WHAT_MOVED = {"manifest": "its manifest changed", "state": "its state entry changed (another apply, or other "
              "state)", "live": "its live resources changed (a job ended, or an out-of-band edit)"}


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"), default=str,
                                     ensure_ascii=False).encode()).hexdigest()


def inputs(names: Iterable[str], desired: DesiredState, lock: Lock | None,
           observed: ObservedState) -> dict[str, dict[str, str]]:
    """For each name: digests of what the planner read about it (empty string: there was nothing)."""
    entries = lock.entries if lock else {}
    found: dict[str, dict[str, str]] = {}
    for name in sorted(set(names)):
        resource = desired.resources.get(name)
        manifest = ([resource.name, resource.digest, resource.mutable, resource.policy.to_json(),
                     resource.depends_on, resource.identity] if resource else None)
        entry = entries.get(name)
        live = sorted((g.stable_json() for g in observed.of(name)),
                      key=lambda g: (g.get("createTime") or "", g.get("job") or g.get("model") or ""))
        found[name] = {
            "manifest": digest(manifest) if manifest else "",
            "state": digest(codec.entry_to_json(entry)) if entry else "",
            "live": digest(live) if live else "",
        }
    return found


def state_digest(lock: Lock | None) -> str:
    """The whole state's content (not only lineage and serial: two branches can share both): the digest of its
    stored text. A lock read from a backend keeps the digest of the bytes it was decoded from (encoding a
    10,000-entry lock again took half a second); any other is digested as the text a backend would store."""
    if not lock:
        return ""
    return lock.stored_digest or codec.stored_digest(codec.Encoder().dumps(lock).encode())


def moved(saved: Mapping[str, Mapping[str, str]], now: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """name -> the parts of its inputs that differ (in PARTS order); names that did not move are left out."""
    result = {}
    for name, before in saved.items():
        after = now.get(name, {})
        parts = [part for part in PARTS if before.get(part, "") != after.get(part, "")]
        if parts:
            result[name] = parts
    return result


def bound_names(changes: Iterable[Change], resources: Mapping[str, DesiredResource]) -> set[str]:
    """What a saved plan is bound to: the names it acts on, and every upstream they train on top of."""
    names = {c.name for c in changes if c.is_change}
    pending = list(names)
    while pending:
        upstream = resources.get(pending.pop())
        if upstream is not None and upstream.depends_on and upstream.depends_on not in names:
            names.add(upstream.depends_on)
            pending.append(upstream.depends_on)
    return names
