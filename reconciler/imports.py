"""`reconciler import` and `reconciler state`: bring a resource made without this tool under a manifest (as
Terraform's `import`), and list, show or forget what the state records (as `terraform state list|show|rm`).

`compare` is pure: a live resource, read by its platform's importer as a manifest-shaped `LiveSpec`, against
what the manifest asks for, field by field. The rest reads and writes the state through the workspace's
backend, always under the run lock, and changes nothing live except the ownership labels an import adds
where the API allows them (a Vertex AI model).

What an import records decides the next plan, which decides by digest: the manifest's own digest when only
mutable fields differ (the plan then updates them in place), and a digest of the live spec, which no manifest
can have, when an immutable field differs (the plan then retrains, showing the fields from the recorded spec).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from reconciler import ownership, platforms
from reconciler.desired import DIGEST_ALGORITHM, DesiredResource
from reconciler.errors import UserError
from reconciler.observed import ENDED_BADLY, name_tail
from reconciler.platforms.base import LiveSpec
from reconciler.state.model import AppliedSpec, Imported, Lock, LockEntry, utc_now

if TYPE_CHECKING:
    from reconciler.operations import Workspace

UNSET = None  # a field the resource or the manifest leaves out


# --------------------------------------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Difference:
    field: str  # dotted path in the manifest's spec: `hyperParameters.epochCount`, `labels.team`
    live: Any
    manifest: Any
    mutable: bool  # patched in place by the next apply; else the next apply retrains


@dataclass(frozen=True)
class Comparison:
    differences: tuple[Difference, ...] = ()
    not_comparable: Mapping[str, str] = field(default_factory=dict)  # field -> why the API cannot tell
    live_immutable: dict = field(default_factory=dict)  # the live spec as the manifest would spell it

    @property
    def immutable_differs(self) -> bool:
        return any(not d.mutable for d in self.differences)


def compare(desired: DesiredResource, live: LiveSpec, upstream_model: str | None = None) -> Comparison:
    """Every field the live resource exposes against the manifest. `upstream_model`: the model recorded for the
    manifest a `fromManifest` names (None: not known, so that field is not comparable)."""
    wanted, have = flatten(desired.immutable), flatten(live.immutable)
    not_comparable = dict(live.not_comparable)
    if live.upstream:
        _resolve_upstream(desired, live, upstream_model, wanted, have, not_comparable)
    differences, recorded = [], {}
    for path in sorted(set(wanted) | set(have)):
        if _covered(path, not_comparable):
            if path in wanted:
                recorded[path] = wanted[path]  # taken on trust: the manifest's value is all there is
            continue
        if path not in wanted and _covered(path, live.server_filled):
            not_comparable[path] = (f"the service filled in {_shown(have[path])}; the manifest leaves it to the "
                                    "service default")
            continue
        mine, theirs = wanted.get(path, live.defaults.get(path)), have.get(path, live.defaults.get(path))
        if same(mine, theirs):
            if path in wanted:
                recorded[path] = wanted[path]
        else:
            differences.append(Difference(path, theirs, mine, mutable=False))
            if path in have:
                recorded[path] = have[path]
    for key in sorted(desired.mutable):
        have_value = live.mutable.get(key)
        if key == "labels" and isinstance(have_value, dict):  # only the manifest's keys: the rest are not ours
            have_value = {k: v for k, v in have_value.items() if k in desired.mutable[key]}
        written, seen = flatten({key: desired.mutable[key]}), flatten({key: have_value})
        differences += [Difference(path, seen.get(path), written.get(path), mutable=True)
                        for path in sorted(set(written) | set(seen)) if not same(written.get(path), seen.get(path))]
    return Comparison(tuple(differences), not_comparable, unflatten(recorded))


def _resolve_upstream(desired: DesiredResource, live: LiveSpec, upstream_model: str | None, wanted: dict,
                      have: dict, not_comparable: dict) -> None:
    """`fromManifest: X` compares with the model the state records for X, spelled as the manifest spells it."""
    source_field, model_key = live.upstream
    written = f"{source_field}.fromManifest"
    source = wanted.get(written)
    if source is None:
        return
    live_path = f"{source_field}.{model_key}"
    if upstream_model is None:
        not_comparable[written] = (f"the state records no model for {source} to compare with "
                                   f"{_shown(have.pop(live_path, UNSET))}")
    elif same_model(upstream_model, have.get(live_path)):
        del have[live_path]
        have[written] = source
    else:
        del wanted[written]
        wanted[live_path] = upstream_model  # the model of `source`: shown against the live one


def same(a: Any, b: Any) -> bool:
    numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))
    return float(a) == float(b) if numbers else a == b


def same_model(a: str | None, b: str | None) -> bool:
    """One model however spelled (project id or number); a version on one side only matches any version."""
    if not a or not b:
        return False
    (base_a, _, version_a), (base_b, _, version_b) = name_tail(a).partition("@"), name_tail(b).partition("@")
    return base_a == base_b and (not version_a or not version_b or version_a == version_b)


def flatten(value: Mapping, prefix: str = "") -> dict[str, Any]:
    """`{a: {b: 1}, c: [..]}` -> `{"a.b": 1, "c": [..]}`: objects are walked, lists and scalars are leaves."""
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping):
            flat.update(flatten(item, path + "."))
        elif item is not None:
            flat[path] = item
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict:
    nested: dict = {}
    for path, value in flat.items():
        *parents, last = path.split(".")
        place = nested
        for part in parents:
            place = place.setdefault(part, {})
        place[last] = value
    return nested


def _covered(path: str, prefixes: Mapping[str, str] | tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def _shown(value: Any) -> str:
    return "(unset)" if value is None else value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def live_digest(comparison: Comparison) -> str:
    """A digest for a live spec that differs from its manifest's: no manifest's digest can be equal to it (that
    one hashes the manifest's canonical document, this one a document of another shape), so the next plan
    retrains."""
    document = {"importedLiveSpec": comparison.live_immutable, "algorithm": DIGEST_ALGORITHM}
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --------------------------------------------------------------------------------------------- importing


@dataclass(frozen=True)
class ImportResult:
    name: str
    live: LiveSpec
    comparison: Comparison
    recorded: bool  # False: refused for its differences (without --accept-diff); nothing was changed
    entry: LockEntry | None = None
    labelled: bool = False  # ownership labels were added to the live resource


def import_resource(workspace: Workspace, name: str, resource: str, *, accept_diff: bool = False) -> ImportResult:
    """Record the live `resource` as manifest `name`'s current generation, under the run lock.

    Raises UserError (nothing changed) when it cannot be: no such manifest, state already has one, another
    platform or scope, another manifest's or stack's, gone, or ended without a model. Differences from the
    manifest refuse it (a result with `recorded=False`) unless `accept_diff`."""
    desired = workspace.desired.resources.get(name)
    if desired is None:
        known = ", ".join(sorted(workspace.desired.resources)) or "none"
        raise UserError(f"{name}: no manifest of that name under {workspace.root} (known: {known}); write its "
                        "manifest first, then import the resource into it")
    importer = _importer(desired, resource)
    _check_scope(desired, resource, importer.scope(resource))
    identity = workspace.desired.config.identity
    with workspace.backend.lock(f"reconciler import {name}"):
        lock = workspace.backend.read()
        _check_unrecorded(lock, name, resource)
        client = workspace.clients[desired.platform]
        live = importer.read(client, resource)
        _check_unrecorded(lock, name, live.key)
        _check_importable(live)
        _check_ownership(live, name, identity)
        comparison = compare(desired, live, _upstream_model(lock, desired))
        if comparison.differences and not accept_diff:
            return ImportResult(name, live, comparison, recorded=False)
        digest = live_digest(comparison) if comparison.immutable_differs else desired.digest
        generation = live.generation
        if live.labels_on_claim:
            generation = importer.claim(client, live, ownership.labels(name, digest, uuid.uuid4().hex, identity))
        generation = replace(generation, owner=name, digest=digest)
        entry = _entry(lock, desired, generation, comparison, digest)
        base = lock or Lock.empty(DIGEST_ALGORITHM)
        workspace.lock = workspace.backend.write(base.reclaiming(live.key).with_entry(entry))
    return ImportResult(name, live, comparison, recorded=True, entry=entry, labelled=live.labels_on_claim)


def _importer(desired: DesiredResource, resource: str):
    importer = platforms.get(desired.platform).importer()
    if importer.recognizes(resource):
        return importer
    other = next((p.name for p in platforms.PLATFORMS.values() if p.importer().recognizes(resource)), None)
    if other is not None:
        raise UserError(f"{resource} is a {other} resource, but manifest {desired.name} is on {desired.platform}; "
                        "nothing was imported")
    raise UserError(f"{resource}: not a resource name that can be imported into manifest {desired.name} "
                    f"({desired.platform}: {' or '.join(importer.forms)})")


def _check_scope(desired: DesiredResource, resource: str, scope: tuple[str | None, str | None]) -> None:
    """The manifest's project and location; a project number (all digits, as the API may spell a name) cannot be
    mapped to a project id offline and is accepted as `state.scope` accepts it."""
    project, location = scope
    if location != desired.location or (project != desired.project and not (project or "").isdigit()):
        raise UserError(f"{resource} lies in project {scope[0]}, location {scope[1]}, but manifest {desired.name} "
                        f"is in project {desired.project}, location {desired.location}; nothing was imported")


def _check_unrecorded(lock: Lock | None, name: str, key: str) -> None:
    entry = lock.entries.get(name) if lock else None
    if entry is not None and entry.current is not None:
        raise UserError(f"{name} already has a current generation in state ({entry.current.describe()}); to import "
                        f"another resource in its place, run `reconciler state rm {name}` first")
    if entry is not None and entry.pending is not None:
        raise UserError(f"{name} has an interrupted create pending in state (intent {entry.pending.id}); run "
                        "`reconciler apply` to settle it before importing")
    for other in (lock.entries.values() if lock else ()):
        if any(name_tail(g.key) == name_tail(key) for g in other.generations):
            raise UserError(f"{key} is already recorded in state under {other.name}; nothing was imported")


def _check_importable(live: LiveSpec) -> None:
    g = live.generation
    if g.phase in ENDED_BADLY:
        raise UserError(f"{g.describe()} ended {g.phase.upper()}: it left no model to manage, so it cannot be "
                        "imported (`reconciler apply` trains the manifest instead)")
    if g.phase == "cancelling":
        raise UserError(f"{g.describe()} is being cancelled and will most likely end without a model; import it "
                        "once it has ended, if it succeeded")
    if g.phase == "succeeded" and (not g.model or not g.model_exists):
        raise UserError(f"{g.describe()} succeeded, but its model no longer exists: there is nothing to import")


def _check_ownership(live: LiveSpec, name: str, identity: str | None) -> None:
    if live.stack is not None and live.stack != identity:
        ours = f"this repository's is {identity}" if identity else "this repository has no stack"
        raise UserError(f"{live.key} belongs to another stack (its {ownership.STACK_LABEL} label is {live.stack}; "
                        f"{ours}); nothing was imported")
    if live.owner and live.owner != name:
        raise UserError(f"{live.key} is marked as manifest {live.owner}'s (by its ownership labels or its id), "
                        f"not {name}'s; nothing was imported")


def _upstream_model(lock: Lock | None, desired: DesiredResource) -> str | None:
    source = desired.depends_on
    entry = lock.entries.get(source) if lock and source else None
    return entry.current.model if entry and entry.current else None


def _entry(lock: Lock | None, desired: DesiredResource, generation, comparison: Comparison,
           digest: str) -> LockEntry:
    entry = (lock.entries.get(desired.name) if lock else None) or LockEntry.new(desired)
    immutable = comparison.live_immutable if comparison.immutable_differs else desired.immutable
    mutable = {k: generation.live[k] for k in desired.mutable if k in generation.live}
    if isinstance(mutable.get("labels"), dict):  # an import owns the manifest's label keys, not the others
        mutable["labels"] = {k: v for k, v in mutable["labels"].items() if k in desired.mutable["labels"]}
    imported = Imported(key=generation.key, at=utc_now(), accepted=tuple(d.field for d in comparison.differences))
    return entry.with_current(generation, digest=digest, project=desired.project, location=desired.location,
                              spec=AppliedSpec(immutable, mutable, desired.policy.to_json()),
                              protect=desired.policy.protect, imported=imported)


# --------------------------------------------------------------------------------------------- state


def rows(lock: Lock | None) -> list[dict]:
    """`state list`: one row per entry (name, platform, resource, phase, digest), sorted by name."""
    return [{"name": name, "platform": entry.platform,
             "resource": entry.current.key if entry.current else None,
             "phase": entry.current.phase if entry.current else None,
             "digest": entry.digest[:ownership.SHORT_DIGEST],
             "imported": entry.imported is not None}
            for name, entry in (lock.entries.items() if lock else ())]


def entry_of(lock: Lock | None, name: str) -> LockEntry:
    entry = lock.entries.get(name) if lock else None
    if entry is None:
        known = ", ".join(lock.entries) if lock and lock.entries else "none"
        raise UserError(f"{name}: no entry of that name in state (entries: {known})")
    return entry


def remove(workspace: Workspace, name: str) -> tuple[str, ...]:
    """`state rm`: forget entry `name` under the run lock, touching nothing live; its resources are released (the
    keys returned): foreign from now on, never adopted by their labels again and never deleted."""
    with workspace.backend.lock(f"reconciler state rm {name}"):
        lock = workspace.backend.read()
        entry = entry_of(lock, name)
        workspace.lock = workspace.backend.write(lock.releasing(name))
    return tuple(g.key for g in entry.generations if g.key)
