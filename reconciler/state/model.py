"""The lock as values: what this repository owns on the live APIs. Updates are pure and return new values.

`codec` turns these into the committed JSON and back; a `StateBackend` stores them. Nothing here does I/O.
"""

from __future__ import annotations

import bisect
import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from reconciler.desired import DesiredResource
from reconciler.observed import DataVersion, Generation, name_tail

# 2: "queued" for "pending", no volatile fields, authorized follow-ups, applied plans; 3: what a job trained on
# (`trainedOn`), its cost estimate, the data policies. Older formats are still read.
FORMAT_VERSION = 3
APPLIED_PLANS = 20  # saved plans remembered as applied: applying one again only finishes its follow-ups


def utc_now() -> str:
    """The timestamp format used in the lock: `2026-11-21T09:00:00Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Intent:
    """A side effect about to be attempted, recorded before it starts so that a crash leaves a trace."""

    id: str  # carried by the resource it creates (a Vertex label value: lowercase hex, 32 characters)
    action: str
    digest: str
    created_at: str

    @classmethod
    def new(cls, action: str, digest: str) -> Intent:
        return cls(id=uuid.uuid4().hex, action=action, digest=digest, created_at=utc_now())


@dataclass(frozen=True)
class Imported:
    """How an entry's generation came under management without this tool creating it: `reconciler import`.

    `accepted` names the fields that differed from the manifest and were accepted (`--accept-diff`); the next
    plan updates or retrains them. A resource recorded this way may carry no ownership mark at all (a Vertex
    tuning job cannot be labelled after its create, a Gemini API tuned model has no labels): the lock is the
    record."""

    key: str  # the generation key imported (a tuning job, or a tuned model)
    at: str  # when, in the lock's timestamp format
    accepted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Authorization:
    """A follow-up a reviewed plan authorized and its apply could not carry out yet (a dependent's train waiting
    for its upstream, the retire of a model superseded by a retrain still training). A later apply carries it
    out, shown as "reviewed in plan <plan>", while the same change is still what the manifests ask for."""

    plan: str  # the id of the saved plan that showed it
    name: str
    action: str
    digest: str  # the spec it was reviewed for (train), or "" (retire)
    targets: tuple[str, ...] = ()  # what it acts on (retire: the superseded generation)

    def matches(self, name: str, action: str, digest: str, targets: tuple[str, ...]) -> bool:
        return (self.name, self.action) == (name, action) and (not self.digest or self.digest == digest) \
            and (not self.targets or tuple(self.targets) == tuple(targets))


@dataclass(frozen=True)
class AppliedSpec:
    """The spec as last applied. A part is None when the lock does not record it (an adopted orphan records
    nothing; a lock may spell out only the policy fields that differ from the defaults)."""

    immutable: dict | None = None
    mutable: dict | None = None
    policy: Mapping[str, Any] | None = None
    # label keys this tool applied that may still be live beyond `mutable`'s (an adoption keeps what was applied
    # before); None: exactly the keys of `mutable`'s labels. Labels outside `owned_labels` are never touched.
    managed_labels: tuple[str, ...] | None = None

    @classmethod
    def of(cls, desired: DesiredResource, before: AppliedSpec | None = None) -> AppliedSpec:
        """The spec `desired` as applied; `before`: the spec it replaces without having rewritten the live labels
        (the keys applied then stay owned until a patch removes them)."""
        wanted = frozenset(desired.mutable.get("labels") or ())
        extra = (before.owned_labels - wanted) if before is not None else frozenset()
        return cls(immutable=desired.immutable, mutable=desired.mutable, policy=desired.policy.to_json(exclude_none=True),
                   managed_labels=tuple(sorted(wanted | extra)) if extra else None)

    @property
    def owned_labels(self) -> frozenset[str]:
        """The label keys this tool applied (Terraform's effective_labels lesson: only these are compared and
        removed; the service's own labels and anyone else's are left alone)."""
        if self.managed_labels is not None:
            return frozenset(self.managed_labels)
        return frozenset((self.mutable or {}).get("labels") or ())


@dataclass(frozen=True)
class LockEntry:
    """What one manifest owns: the applied spec and the generations it trained."""

    name: str
    platform: str
    project: str | None
    location: str | None
    digest: str  # spec digest of the last applied spec
    spec: AppliedSpec
    current: Generation | None  # the generation for `digest` (may still be training)
    superseded: tuple[Generation, ...] = ()  # older generations still live, awaiting retirement
    pending: Intent | None = None
    protect: bool = False
    # scopes (project, location) this entry lived in before its manifest moved: its superseded generations may
    # still be there, awaiting retirement (state.scope accepts them there and nowhere else)
    moved_from: tuple[tuple[str | None, str | None], ...] = ()
    imported: Imported | None = None  # set by `reconciler import`
    trained_on: tuple[DataVersion, ...] = ()  # the gs:// datasets the current generation was created on
    estimate: Mapping[str, Any] = field(default_factory=dict)  # the cost estimate it was created with (Estimate JSON)

    @classmethod
    def new(cls, desired: DesiredResource) -> LockEntry:
        return cls(name=desired.name, platform=desired.platform, project=desired.project,
                   location=desired.location, digest=desired.digest, spec=AppliedSpec.of(desired), current=None,
                   protect=desired.policy.protect)

    @classmethod
    def orphan(cls, generation: Generation, project: str | None, location: str | None) -> LockEntry:
        """An entry for a live generation whose manifest is gone: it records no spec."""
        return cls(name=generation.owner, platform=generation.platform, project=project, location=location,
                   digest=generation.digest, spec=AppliedSpec(), current=None)

    @property
    def generations(self) -> tuple[Generation, ...]:
        if not self.superseded:  # most entries: asked for every entry of every plan
            return (self.current,) if self.current else ()
        return tuple(g for g in (self.current, *self.superseded) if g)

    @property
    def recorded_keys(self) -> frozenset[str]:
        return frozenset([g.key for g in self.generations])

    def with_generation(self, generation: Generation) -> LockEntry:
        """The recorded generation of the same key, replaced by what was learned about it."""
        if self.current and self.current.key == generation.key:
            return replace(self, current=generation)
        return replace(self, superseded=tuple(generation if g.key == generation.key else g
                                              for g in self.superseded))

    def with_current(self, generation: Generation, **changes: Any) -> LockEntry:
        """`generation` becomes current; every other recorded generation is superseded by it. What the old current
        was trained on (its data and estimate) goes with it unless `changes` says what the new one was."""
        changes.setdefault("trained_on", ())
        changes.setdefault("estimate", {})
        older = tuple(g for g in self.generations if g.key != generation.key)
        moved = self.moved_from
        scope = (changes.get("project", self.project), changes.get("location", self.location))
        if older and scope != (self.project, self.location) and (self.project, self.location) not in moved:
            moved = (*moved, (self.project, self.location))
        return replace(self, current=generation, superseded=older, pending=None, moved_from=moved, **changes)

    def without_generation(self, key: str, *, keep_entry: bool) -> LockEntry | None:
        """The entry without the generation `key`; None once nothing is left to remember (unless kept)."""
        current = None if self.current and self.current.key == key else self.current
        superseded = tuple(g for g in self.superseded if g.key != key)
        if current is None and not superseded and not keep_entry and self.pending is None:
            return None
        return replace(self, current=current, superseded=superseded)


class Sorted(dict):
    """A mapping whose keys are in sorted order (and, holding lock entries, each filed under its own name): what a
    Lock keeps, and passes on to the Locks made from it, which then neither sort nor check it again.

    An apply updates the lock twice per create, and each update used to re-sort and re-check every entry in
    Python: with a thousand entries, the largest cost of an apply after HTTP. An update is now a copy of the
    mapping in C. Never changed in place: every Lock made from it may hold it."""

    __slots__ = ()

    def with_item(self, key: str, value: Any) -> Sorted:
        """A copy with `key` set to `value`, `key` in its sorted place."""
        if key in self or not self or key > next(reversed(self)):
            updated = Sorted(self)  # a replaced key keeps its place; a new last key goes last
            updated[key] = value
            return updated
        items = list(self.items())
        items.insert(bisect.bisect_left(items, key, key=itemgetter(0)), (key, value))
        return Sorted(items)

    def without(self, key: str) -> Sorted:
        """A copy without `key` (the same order for the rest)."""
        updated = Sorted(self)
        updated.pop(key, None)
        return updated


@dataclass(frozen=True)
class Lock:
    """The whole lock. Updates are pure; only a backend's write moves the serial."""

    version: int
    lineage: str
    serial: int
    digest_algorithm: str
    entries: Mapping[str, LockEntry] = field(default_factory=dict)
    # generation keys released by `reconciler state rm` -> the entry they were released from: foreign from then
    # on (never adopted by their labels, never deleted), until `reconciler import` takes one back
    released: Mapping[str, str] = field(default_factory=dict)
    authorized: tuple[Authorization, ...] = ()  # reviewed follow-ups still to be carried out
    applied_plans: tuple[str, ...] = ()  # ids of the last saved plans applied (newest last, at most APPLIED_PLANS)
    # the digest of the stored bytes this very value was decoded from (`stored_as`), or "": a saved plan's digest of
    # the whole state without encoding a 20 MB lock again. Not an __init__ argument, so that every value derived
    # from this one (dataclasses.replace: with_entry, a backend's write, ...) starts without it.
    stored_digest: str = field(default="", init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if type(self.entries) is not Sorted:  # a Sorted mapping comes from another Lock: checked and sorted there
            for name, entry in self.entries.items():
                if name != entry.name:
                    raise ValueError(f"lock entry {entry.name!r} filed under {name!r}")
            object.__setattr__(self, "entries", Sorted(sorted(self.entries.items())))
        if type(self.released) is not Sorted:
            object.__setattr__(self, "released", Sorted(sorted(self.released.items())))

    def stored_as(self, digest: str) -> None:
        """Record the digest of the bytes this value was just decoded from (by the decoder, before anyone holds it)."""
        object.__setattr__(self, "stored_digest", digest)

    @classmethod
    def empty(cls, digest_algorithm: str) -> Lock:
        """A lock for a repository that owns nothing yet: a new lineage at serial 0."""
        return cls(version=FORMAT_VERSION, lineage=str(uuid.uuid4()), serial=0, digest_algorithm=digest_algorithm)

    def with_entry(self, entry: LockEntry) -> Lock:
        return dataclasses.replace(self, entries=self.entries.with_item(entry.name, entry))

    def without(self, name: str) -> Lock:
        return dataclasses.replace(self, entries=self.entries.without(name))

    def releasing(self, name: str) -> Lock:
        """Without the entry `name`, its generation keys released: the live resources become foreign."""
        entry = self.entries[name]
        released = {**self.released, **{g.key: name for g in entry.generations if g.key}}
        return dataclasses.replace(self.without(name), released=released)

    def reclaiming(self, key: str) -> Lock:
        """`key` (however its project is spelled) no longer released: it is being imported again."""
        return dataclasses.replace(self, released={k: v for k, v in self.released.items()
                                                   if name_tail(k) != name_tail(key)})

    def authorization(self, name: str, action: str, digest: str, targets: tuple[str, ...]) -> Authorization | None:
        return next((a for a in self.authorized if a.matches(name, action, digest, targets)), None)

    def generations(self) -> list[Generation]:
        return [g for entry in self.entries.values() for g in entry.generations]

    def current(self, names: set[str] | None = None) -> dict[str, Generation]:
        """The current generation of every entry (optionally only `names`)."""
        return {name: entry.current for name, entry in self.entries.items()
                if entry.current is not None and (names is None or name in names)}
