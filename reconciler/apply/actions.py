"""The actions that start nothing: adopt, forget, update, cancel, and removal (delete and retire).

Each touches only the resources its change names, and records what it did before returning.
"""

from __future__ import annotations

from dataclasses import replace

from reconciler.apply.context import Context
from reconciler.errors import NotFound
from reconciler.observed import Generation
from reconciler.ownership import digest_matches
from reconciler.plan.model import Change
from reconciler.state.model import AppliedSpec, LockEntry


def adopt(ctx: Context, change: Change) -> str:
    generation = ctx.observed.find(change.targets[0])
    if generation is None:
        raise NotFound(f"{change.targets[0]} disappeared since the plan was made")
    desired = ctx.desired.get(change.name)

    def record(entry: LockEntry | None) -> LockEntry:
        base = entry or (LockEntry.new(desired) if desired else LockEntry.orphan(generation, *_scope_of(generation)))
        matches = desired is not None and digest_matches(desired.digest, generation.digest)
        return base.with_current(generation, digest=desired.digest if matches else generation.digest,
                                 spec=AppliedSpec.of(desired, base.spec) if matches else base.spec)
    ctx.journal.update(change.name, record)
    return f"recorded {generation.key} in the lock"


def forget(ctx: Context, change: Change) -> str:
    ctx.journal.update(change.name, lambda entry: None)
    return "dropped from the lock; live resources untouched"


def update(ctx: Context, change: Change) -> str:
    desired = ctx.desired[change.name]
    generation = _generation_of(ctx, change.name, change.targets[0]) if change.targets else None
    if generation is None or not generation.model:
        raise NotFound(f"{change.name}: the model to update is gone since the plan was made")
    fields = sorted({d.path.split(".")[0] for d in change.diffs} - {"policy"})  # policy lives in the lock only
    recorded = ctx.journal.entry(change.name)
    owned = recorded.spec.owned_labels if recorded else frozenset()
    mask = ctx.platform(desired.platform).patch(ctx.client(desired.platform), desired, generation, fields,
                                                owned) if fields else []

    def record(entry: LockEntry | None) -> LockEntry | None:
        if entry is None:
            return None
        live = {**(entry.current.live if entry.current else {}), **{f: desired.mutable.get(f) for f in fields}}
        current = replace(entry.current, live=live) if entry.current else None
        spec = AppliedSpec.of(desired, None if "labels" in fields else entry.spec)  # a labels patch set them all
        return replace(entry, spec=spec, current=current, protect=desired.policy.protect)
    ctx.journal.update(change.name, record)
    return f"patched {', '.join(mask)} on {generation.model}" if mask else "recorded the new policy"


def cancel(ctx: Context, change: Change) -> str:
    key = change.targets[0]
    ctx.removed.add(key)
    now = ctx.platform(change.platform).cancel(ctx.client(change.platform), key)
    if now is None:  # stopping it deleted it (the Gemini API has no cancel)
        ctx.record_gone(change.name, key)
        return f"stopped the tune by deleting {key}"
    ctx.record(change.name, now)
    return f"cancel requested for {key} (now {now.phase})"


def remove(ctx: Context, change: Change) -> str:
    key = change.targets[0]
    generation = ctx.observed.find(key)
    if generation is None:
        ctx.record_gone(change.name, key)
        return f"{key} was already gone"
    ctx.removed.add(key)  # before the calls: once sent, this run must never adopt it back from a listing
    ctx.platform(generation.platform).remove(ctx.client(generation.platform), generation, ctx.steps(change.name),
                                             ctx.identity)
    ctx.record_gone(change.name, key)
    return f"deleted {generation.model or key}"


def _generation_of(ctx: Context, name: str, target: str) -> Generation | None:
    """The observed generation a change names: by its key (job / tuned model) or by its model."""
    found = ctx.observed.find(target)
    if found is not None:
        return found
    return next((g for g in ctx.observed.of(name) if g.model and target in (g.model, g.model.split("@", 1)[0])),
                None)


def _scope_of(generation: Generation) -> tuple[str | None, str | None]:
    parts = (generation.job or "").split("/")
    return (parts[1], parts[3]) if len(parts) > 3 and parts[0] == "projects" else (None, None)
