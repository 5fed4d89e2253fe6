"""Read the live state of every managed resource into an `ObservedState`, in pages, not per resource.

Each platform reads its own scopes (how, and which single GETs a listing cannot spare, is its business);
every read of every platform runs concurrently here, and the result is one sorted, frozen value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from reconciler import platforms
from reconciler.datasets import versions
from reconciler.observed import Generation, ObservedState
from reconciler.ownership import Claims, Recorded

if TYPE_CHECKING:
    from reconciler.desired import DesiredState
    from reconciler.state.model import Lock


DATA_WORKERS = 16


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


def claims(desired: DesiredState, lock: Lock | None) -> Claims:
    """What says a live resource is ours besides its own labels or id: the identity of the manifests' root,
    every generation the lock records (with the digest recorded for it: the entry's, for a current generation
    recorded without one), and the digests a create may have used (each manifest's, and any pending intent's)."""
    recorded: dict[str, Recorded] = {}
    wanted: dict[str, frozenset[str]] = {name: frozenset((r.digest,)) for name, r in desired.resources.items()}
    for name, entry in (lock.entries.items() if lock else ()):
        for generation in entry.generations:
            if generation.key:  # a current generation recorded without a digest has the entry's
                fallback = entry.digest if generation is entry.current else ""
                recorded[generation.key] = Recorded(name, generation.digest or fallback)
        if entry.pending is not None and entry.pending.digest:
            wanted[name] = wanted.get(name, frozenset()) | {entry.pending.digest}
    return Claims(identity=desired.config.identity, recorded=recorded, wanted=wanted)


def refresh(scopes: Iterable[tuple], claims: Claims, clients: Mapping[str, Any] | Any, *,
            operations: Mapping[str, str] | None = None, max_workers: int = 8,
            data: Iterable[str] = ()) -> ObservedState:
    """Everything of ours in `scopes`, plus whatever the lock names elsewhere.

    claims: the identity, the generation keys recorded in the lock and the specs wanted (`claims` above); a
    recorded key that no longer exists (404) has no generation in the result, and the planner reports it
    missing.
    clients: the API client of each platform read (a `Clients`, or any mapping by platform name).
    operations: model name -> the create operation recorded in the lock, to read progress directly.
    data: gs:// datasets to read the metadata of (one GET each, alongside the listings), with `clients.storage`.
    """
    by_platform: dict[str, list[Scope]] = {}
    for scope in _distinct(scopes):
        by_platform.setdefault(scope.platform, []).append(scope)
    keys: dict[str, list[str]] = {}
    for key in sorted(claims.recorded):
        owner = platforms.owning(key)
        if owner is not None:
            keys.setdefault(owner.name, []).append(key)
    # dataset reads are single small GETs: a pool of their own, wider than the listings' (Cloud Storage serves
    # thousands a second), so that a thousand datasets cost tens of round trips, not a hundred and twenty-five
    with _readers(max_workers, "refresh") as pool, _readers(DATA_WORKERS, "datasets") as data_pool:
        joins = []
        for name in sorted(set(by_platform) | set(keys)):
            client = clients.get(name)
            if client is None:
                raise ValueError(f"refresh needs a client for {name}: scopes or lock entries of it are present")
            joins.append(platforms.get(name).read(client, by_platform.get(name, []), keys.get(name, []), claims,
                                                  dict(operations or {}), pool.submit))
        data_read = versions.read(getattr(clients, "storage", None), data, data_pool.submit)
        generations = [g for join in joins for g in join()]
        found = data_read()
    return ObservedState(generations=tuple(sorted(generations, key=lambda g: (g.owner, g.create_time, g.key))),
                         scopes=tuple(s.key for ss in by_platform.values() for s in ss), data=found)


def observe(generations: Mapping[str, Generation], clients: Mapping[str, Any] | Any, *,
            max_workers: int = 8) -> dict[str, Generation | None]:
    """Each recorded generation (by manifest name) as live now (None: it no longer exists), read as `refresh`
    reads: through each platform's listings, a page set per scope whatever their number, every platform and
    every GET concurrently (under the clients' rate limiters). A generation no platform follows is returned as is."""
    by_platform: dict[str, list[Generation]] = {}
    for g in generations.values():
        by_platform.setdefault(g.platform, []).append(g)
    with _readers(max_workers, "observe") as pool:
        joins = [platforms.get(name).observe(clients[name], followed, pool.submit)
                 for name, followed in sorted(by_platform.items())]
        now = {key: found for join in joins for key, found in join().items()}
    return {name: now[g.key] if g.key in now else g for name, g in generations.items()}


@contextmanager
def _readers(workers: int, name: str) -> Iterator[ThreadPoolExecutor]:
    """A pool of reads, left without waiting when what uses it fails or is interrupted: its reads change
    nothing. An interrupted command then exits at once (`cli.main.run`), not after a read blocked on a server that
    does not answer has timed out."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def _distinct(scopes: Iterable[tuple]) -> list[Scope]:
    by_key: dict[str, Scope] = {}
    for raw in scopes:
        scope = Scope(*raw)
        by_key.setdefault(scope.key, scope)
    return [by_key[key] for key in sorted(by_key)]
