"""The Platform protocol: everything that differs between the tuning APIs, behind one set of verbs.

The rest of the product asks a platform; only the modules of this package branch on which one it is.
A platform is cheap to import (its API client is imported when it connects), so the pure planner may ask
it questions too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from reconciler.desired import DesiredResource
from reconciler.ownership import Claims
from reconciler.errors import NotFound
from reconciler.observed import Generation

Submit = Callable[..., Future]  # ThreadPoolExecutor.submit: every read a platform starts runs concurrently


class Steps(Protocol):
    """What a multi-request removal reports to its caller between requests."""

    def before_request(self) -> None:
        """Raises when the run was asked to stop: nothing half-sent, the lock records what was done."""

    def learned(self, generation: Generation) -> None:
        """Persist what the last request changed (an endpoint undeployed) before the next one."""


@dataclass(frozen=True)
class LiveSpec:
    """A live resource read for `reconciler import`, spelled like a manifest's canonical spec so that the two
    compare field by field (`reconciler.imports.compare`)."""

    key: str  # the generation key to record (a tuning job, or a tuned model)
    generation: Generation  # as read; its owner and digest are the ones its marks say, if any
    project: str | None  # where it lives, as the resource name spells it (None: an unscoped platform)
    location: str | None
    immutable: dict  # the immutable fields the API returns, in the manifest's names and types
    mutable: dict  # the mutable fields, as the planner sees them live
    not_comparable: Mapping[str, str] = field(default_factory=dict)  # field path -> why the API cannot tell
    defaults: Mapping[str, Any] = field(default_factory=dict)  # documented defaults: absent means this value
    server_filled: tuple[str, ...] = ()  # fields the service fills in when unset: compared only when written
    upstream: tuple[str, str] | None = None  # (field, model key) naming the tuned model this one continues
    owner: str = ""  # the manifest its ownership marks (labels, id) name, if any
    stack: str | None = None  # the stack its labels name, if any
    labels_on_claim: bool = False  # claiming it writes ownership labels (else the lock is the only record)


class Importer(Protocol):
    """`reconciler import` on one platform: recognize a resource name, read it, and claim it."""

    forms: tuple[str, ...]  # the resource names it imports, for messages: `tunedModels/ID`

    def recognizes(self, resource: str) -> bool:
        """Whether `resource` names a resource of this platform that can be imported (no I/O)."""

    def scope(self, resource: str) -> tuple[str | None, str | None]:
        """(project, location) as the name spells them; (None, None) on an unscoped platform (no I/O)."""

    def read(self, client: Any, resource: str) -> LiveSpec:
        """Read the resource (UserError when it does not exist or cannot be tuned from)."""

    def claim(self, client: Any, live: LiveSpec, labels: Mapping[str, str]) -> Generation:
        """Add the ownership `labels` where the API allows it; the generation as it now is."""


class Platform(Protocol):
    name: str  # the manifest's `platform:` value
    scoped: bool  # resources live in a (project, location); else one global scope
    ownership: str  # how a create whose answer was lost is found again, for messages
    one_id_per_spec: bool  # a spec can only ever have one resource id: its occupant must go before a create

    # --- wiring -------------------------------------------------------------------------------------
    def connect(self, http: Any, *, endpoint: str | None, policy: Any, limiter: Any) -> Any:
        """The API client of this platform over `http` (an httpx.Client with the platform's auth)."""

    def auth(self, *, token_client: Any, env: Mapping[str, str], emulator: bool, adc: Callable) -> Any:
        """The httpx.Auth for this platform from the environment (fixed fake credentials for the emulator)."""

    # --- reading ------------------------------------------------------------------------------------
    def owns_key(self, key: str) -> bool:
        """Whether a generation key recorded in the lock names a resource of this platform."""

    def read(self, client: Any, scopes: list[tuple], lock_keys: list[str], claims: Claims,
             operations: Mapping[str, str], submit: Submit) -> Callable[[], list[Generation]]:
        """Start reading every resource in `scopes` that is ours (by its labels or id, and `claims`: the identity,
        what the lock records, the specs wanted) and the `lock_keys` no listing returns; the returned function
        waits for the reads and turns them into generations."""

    def observe(self, client: Any, generations: list[Generation], submit: Submit
                ) -> Callable[[], dict[str, Generation | None]]:
        """Start reading the generations the lock records, as they are live now, through the same listings as
        `read` (one page set per scope, whatever their number; GETs only for what a listing cannot say); the
        returned function waits and maps each generation's key to what it is now (None: gone)."""

    # --- changing -----------------------------------------------------------------------------------
    def create(self, client: Any, desired: DesiredResource, intent: str, upstream_model: str | None) -> Generation:
        """Send the create once (never retried here) and return the generation it started."""

    def lookup(self, client: Any, desired: DesiredResource) -> list[Generation]:
        """Live generations of this manifest at its current digest and identity, asked of the API (not a
        listing cache)."""

    def occupant(self, desired: DesiredResource) -> str | None:
        """The key a new resource of this spec must take, when the platform allows only one (else None)."""

    def cancel(self, client: Any, key: str) -> Generation | None:
        """Stop the training run `key`; the generation as it is now, or None when stopping it deleted it."""

    def remove(self, client: Any, generation: Generation, steps: Steps,
               identity: str | None = None) -> None:
        """Undeploy and delete what the generation created, only what it created and never what carries
        another `identity` than ours; gone already is fine."""

    def patch(self, client: Any, desired: DesiredResource, generation: Generation, fields: Collection[str],
              owned_labels: Collection[str] = ()) -> list[str]:
        """Patch the mutable `fields` of the generation's model; returns the update mask sent. Of its labels
        only `owned_labels` (the keys this tool applied) and the manifest's may change; the rest stay."""

    # --- importing ----------------------------------------------------------------------------------
    def importer(self) -> Importer:
        """How `reconciler import` reads and claims a resource of this platform made without this tool."""


def get_or_none(get: Callable[[str], dict], name: str) -> dict | None:
    """A GET where "not found" is an answer, not an error."""
    try:
        return get(name)
    except NotFound:
        return None
