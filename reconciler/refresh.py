"""Read the live state of every managed resource into an `ObservedState`, in pages, not per resource.

Each platform reads its own scopes (how, and which single GETs a listing cannot spare, is its business);
every read of every platform runs concurrently here, and the result is one sorted, frozen value.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from reconciler import platforms
from reconciler.observed import ObservedState


class Scope(NamedTuple):
    """Where to look: (platform, project, location); a platform without scopes has neither."""

    platform: str
    project: str | None = None
    location: str | None = None

    @property
    def key(self) -> str:
        """`vertex:my-project:us-central1`, or just `gemini-api` for a platform without scopes."""
        if not platforms.get(self.platform).scoped:
            return self.platform
        return f"{self.platform}:{self.project}:{self.location}"


def refresh(scopes: Iterable[tuple], known_names: Collection[str], lock_keys: Collection[str],
            clients: Mapping[str, Any] | Any, *, operations: Mapping[str, str] | None = None,
            max_workers: int = 8) -> ObservedState:
    """Everything managed in `scopes`, plus whatever the lock names elsewhere.

    known_names: manifest names from the manifests and the lock (some platforms' ids carry no other mark).
    lock_keys: generation keys recorded in the lock; one that no longer exists (404) has no generation in the
    result, and the planner reports it missing.
    clients: the API client of each platform read (a `Clients`, or any mapping by platform name).
    operations: model name -> the create operation recorded in the lock, to read progress directly.
    """
    by_platform: dict[str, list[Scope]] = {}
    for scope in _distinct(scopes):
        by_platform.setdefault(scope.platform, []).append(scope)
    keys: dict[str, list[str]] = {}
    for key in sorted(lock_keys):
        owner = platforms.owning(key)
        if owner is not None:
            keys.setdefault(owner.name, []).append(key)
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="refresh") as pool:
        joins = []
        for name in sorted(set(by_platform) | set(keys)):
            client = clients.get(name)
            if client is None:
                raise ValueError(f"refresh needs a client for {name}: scopes or lock entries of it are present")
            joins.append(platforms.get(name).read(client, by_platform.get(name, []), keys.get(name, []),
                                                  frozenset(known_names), dict(operations or {}), pool.submit))
        generations = [g for join in joins for g in join()]
    return ObservedState(generations=tuple(sorted(generations, key=lambda g: (g.owner, g.create_time, g.key))),
                         scopes=tuple(s.key for ss in by_platform.values() for s in ss))


def _distinct(scopes: Iterable[tuple]) -> list[Scope]:
    by_key: dict[str, Scope] = {}
    for raw in scopes:
        scope = Scope(*raw)
        by_key.setdefault(scope.key, scope)
    return [by_key[key] for key in sorted(by_key)]
