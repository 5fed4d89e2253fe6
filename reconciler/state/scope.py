"""Entries that point elsewhere: every resource a lock entry records must lie where that entry's manifest
lives, or apply would retire and delete somebody else's resources on the strength of a bad edit or merge.

Scoped platforms name resources `projects/P/locations/L/...`: the location must be the entry's, and the
project too unless the API spelled it as the project *number* (all digits), which cannot be mapped to the
project id offline; removal checks the ownership labels on the live model as well, which covers that gap.
Unscoped platforms name a resource by its deterministic id `{name}-{8 hex}`, which must carry the entry's
own name. Pure: nothing here does I/O.
"""

from __future__ import annotations

import re

from reconciler import ownership
from reconciler.observed import Generation
from reconciler.platforms import PLATFORMS
from reconciler.state.model import Lock, LockEntry

_SCOPED = re.compile(r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/[^/]+/[^/]+")


class OutOfScope(ValueError):
    def __init__(self, where: str, problem: str):
        self.where, self.problem = where, problem
        super().__init__(f"{where}: {problem}")


def check(lock: Lock) -> None:
    """Raise OutOfScope naming the first entry that records a resource outside its own scope or identity."""
    for name, entry in lock.entries.items():
        platform = PLATFORMS.get(entry.platform)
        if platform is None:
            continue  # the codec refuses unknown platforms
        for place, generation in _recorded(entry):
            where = f"entries.{name}.{place}"
            if generation.platform != entry.platform:
                raise OutOfScope(where, f"records a {generation.platform} resource in a {entry.platform} entry")
            scopes = [(entry.project, entry.location)] + (list(entry.moved_from) if place != "current" else [])
            for resource in _names(generation):
                problem = (_outside_scopes(resource, scopes) if platform.scoped
                           else "" if entry.imported and generation.key == entry.imported.key  # any id: imported
                           else _outside_identity(resource, name))
                if problem:
                    raise OutOfScope(where, problem)


def _recorded(entry: LockEntry) -> list[tuple[str, Generation]]:
    found = [("current", entry.current)] if entry.current else []
    return found + [(f"superseded[{i}]", g) for i, g in enumerate(entry.superseded)]


def _names(generation: Generation) -> list[str]:
    return [n for n in (generation.job, generation.model, *generation.endpoints) if n]


def _outside_scopes(resource: str, scopes: list[tuple[str | None, str | None]]) -> str:
    match = _SCOPED.match(resource)
    if match is None:
        return f"{resource} is not a resource name of the form projects/P/locations/L/..."
    project, location = match["project"], match["location"]
    if any(location == want_location and (project == want_project or project.isdigit())
           for want_project, want_location in scopes):
        return ""
    (want_project, want_location), *earlier = scopes
    moved = f" (or where it moved from: {', '.join(f'{p}/{loc}' for p, loc in earlier)})" if earlier else ""
    return f"{resource} lies outside the entry's project {want_project} and location {want_location}{moved}"


def _outside_identity(resource: str, name: str) -> str:
    collection, _, resource_id = resource.partition("/")
    parsed = ownership.parse_id(resource_id) if collection and "/" not in resource_id else None
    if parsed is None or parsed[0] != name:
        return (f"{resource} does not carry the entry's name: the only id entry '{name}' can own is "
                f"{name}-<8 hex digits>")
    return ""
