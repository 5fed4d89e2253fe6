"""Which manifests a plan covers and in which order: dependencies first, `--target` with what it tunes on
top of, and whether a dependent's train must wait for its upstream in this run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.desired import DesiredResource
from reconciler.observed import ObservedState
from reconciler.ownership import digest_matches
from reconciler.plan.model import Change
from reconciler.state.model import LockEntry


def ordered_names(resources: Mapping[str, Any], entries: Mapping[str, Any]) -> list[str]:
    """Manifest order (dependencies first), then names only the lock still knows, alphabetically."""
    return list(resources) + sorted(n for n in entries if n not in resources)


def select(names: Iterable[str], resources: Mapping[str, DesiredResource], targets: frozenset[str]) -> set[str]:
    if not targets:
        return set(names)
    selected: set[str] = set()
    pending = list(targets)
    while pending:  # a target brings the manifests it tunes on top of
        name = pending.pop()
        if name not in selected:
            selected.add(name)
            upstream = resources.get(name)
            if upstream is not None and upstream.depends_on:
                pending.append(upstream.depends_on)
    return selected


def order_dependents(changes: list[Change], resources: Mapping[str, DesiredResource], observed: ObservedState,
                      entries: Mapping[str, LockEntry]) -> list[Change]:
    """A dependent's train waits only if its upstream has no succeeded model of the wanted spec yet."""
    training_now = {c.name for c in changes if c.action in ("train", "retrain")}
    result = []
    for change in changes:
        if change.after and change.after not in training_now and _upstream_ready(change.after, resources, observed,
                                                                                   entries):
            change = replace(change, after="")
        result.append(change)
    return result


def _upstream_ready(name: str, resources: Mapping[str, DesiredResource], observed: ObservedState,
                    entries: Mapping[str, LockEntry]) -> bool:
    upstream = resources.get(name)
    return any(g.phase == "succeeded" and g.model_exists and upstream is not None
               and digest_matches(upstream.digest, g.digest) for g in observed.of(name))
