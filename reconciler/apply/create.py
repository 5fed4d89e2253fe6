"""The exactly-once create: a paid tuning job is started once, whatever crashes or answers are lost.

1. An intent is written to the lock before the create is sent; the repository's training files are uploaded
   after it (content-addressed: a repeat is a no-op), so a crash between the upload and the create is adopted
   or resent like any other.
2. Before sending, the live API is searched for what this intent (or an earlier unrecorded attempt at the
   same spec) already created; found, it is adopted instead. This run's own seconds-old listing stands in
   for the search when no earlier run left an intent behind (the run lock keeps other applies out).
3. A 429 is a definite "not done" and is resent; a dropped connection, timeout or 5xx may have created the
   resource, so it is searched for again before any resend; a 409 on a deterministic id is adopted.
4. What was created is recorded before the next side effect.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from reconciler.apply.context import Context
from reconciler.datasets import staging
from reconciler.desired import DesiredResource
from reconciler.errors import (AlreadyExists, BadResponse, DeadlineExceeded, Internal, ResourceExhausted, TransportError,
                               Unavailable)
from reconciler.observed import ENDED_BADLY, Generation
from reconciler.ownership import digest_matches
from reconciler.plan.model import Change
from reconciler.state.model import AppliedSpec, Intent, LockEntry

# The create may or may not have happened: no answer, a 5xx, a deadline, or an answer we cannot read (a 200
# without the created resource's name, a redirect, a body that is not JSON): look it up before any resend.
AMBIGUOUS = (TransportError, Unavailable, Internal, DeadlineExceeded, BadResponse)
CREATE_ATTEMPTS = 4
FRESH_LISTING_SECONDS = 30.0  # how long this run's own refresh stands in for the lookup before a create
THROTTLED_ATTEMPTS = 30  # a 429 on a create is a definite "not done": waiting and resending is always safe


def declare(ctx: Context, changes: Iterable[Change]) -> None:
    """Store the intent of every create the plan will attempt, in one durable write, before the first create.

    One write instead of one per create: a remote state backend allows about one write a second, and a create
    must never be sent before its intent is stored. An intent left by an earlier run is kept (what it may have
    created is looked up before any create); the ones this run declares are known to have created nothing yet."""
    updates = {}
    for change in changes:
        desired = ctx.desired.get(change.name)
        if change.action not in ("train", "retrain") or desired is None:
            continue
        entry = ctx.journal.entry(change.name)
        if entry and entry.pending and entry.pending.digest == desired.digest:
            continue
        intent = Intent.new("train", desired.digest)
        ctx.declared[change.name] = intent.id
        updates[change.name] = lambda e, d=desired, i=intent: _with_pending(e, d, i)
    if updates:
        ctx.journal.update_many(updates, durable=True)


def withdraw_unattempted(ctx: Context) -> None:
    """Take back the intents this run declared and never acted on (deferred, failed before, interrupted)."""
    def withdrawn(intent_id: str):
        def change(entry: LockEntry | None) -> LockEntry | None:
            if entry is None or entry.pending is None or entry.pending.id != intent_id:
                return entry
            if entry.current is None and not entry.superseded and not entry.digest:
                return None  # the entry existed only for this intent
            return replace(entry, pending=None)
        return change
    updates = {name: withdrawn(i) for name, i in ctx.declared.items() if name not in ctx.attempted}
    if updates:
        ctx.journal.update_many(updates)


def train(ctx: Context, change: Change) -> str:
    desired = ctx.desired[change.name]
    upstream_model = _upstream_model(ctx, desired) if desired.depends_on else None
    entry = ctx.journal.entry(change.name)
    earlier = entry.pending if entry and entry.pending and entry.pending.digest == desired.digest else None
    intent = earlier or Intent.new("train", desired.digest)
    ours = earlier is None or ctx.declared.get(change.name) == earlier.id  # nothing can have used it yet
    ctx.attempted.add(change.name)
    ctx.journal.update(change.name, lambda e: _with_pending(e, desired, intent), durable=True)
    _clear_occupant(ctx, change, desired)
    fresh = ours and ctx.clock() - ctx.observed_at < FRESH_LISTING_SECONDS
    found = _find_created(ctx, desired, intent, listed=ctx.observed.of(desired.name) if fresh else None)
    if found is not None:
        _record_trained(ctx, desired, found, change)
        return f"adopted {found.key}, created by an earlier interrupted attempt"
    try:
        staging.stage(getattr(ctx.clients, "storage", None), desired, ctx.root or Path("."))
    except staging.StagingError:
        ctx.attempted.discard(change.name)  # refused before any create was sent: this run's intent is withdrawn
        raise
    created, answered = _create(ctx, desired, intent, upstream_model)
    _record_trained(ctx, desired, created, change)
    if not answered:
        how = ctx.platform(desired.platform).ownership
        return f"started {created.key} (its create answer was lost; found it by {how})"
    return f"started {created.key}"


def _create(ctx: Context, desired: DesiredResource, intent: Intent,
            upstream_model: str | None) -> tuple[Generation, bool]:
    """The created generation, and whether the create's own answer said so (False: found by lookup)."""
    platform, client = ctx.platform(desired.platform), ctx.client(desired.platform)
    throttled = ambiguous = 0
    while True:
        ctx.check_stop()
        try:
            return platform.create(client, desired, intent.id, upstream_model), True
        except ResourceExhausted:
            throttled += 1  # refused, not performed; the shared limiter already holds every worker back
            if throttled >= THROTTLED_ATTEMPTS:
                raise
        except AlreadyExists as conflict:  # a deterministic id exists, so an earlier create landed
            for attempt in range(CREATE_ATTEMPTS):  # a read right after may not see it yet: look again
                found = _find_created(ctx, desired, intent)
                if found is not None:
                    return found, False
                ctx.sleep(min(8.0, 0.5 * 2 ** attempt))
            key = platform.occupant(desired)
            if key:  # the id is there (409) yet never readable as ours (404): another account's, never adopted
                raise AlreadyExists(f"{desired.name}: the id {key} is taken by someone else (the create answered "
                                    f"409; looking it up answers 404): tuned-model ids are one global namespace; "
                                    "it is not adopted and nothing was created: set a `stack:` in "
                                    "reconciler.yaml (it is mixed into the id) or rename the manifest",
                                    method=conflict.method, url=conflict.url,
                                    http_status=conflict.http_status) from None
            raise
        except AMBIGUOUS:
            ambiguous += 1
            found = _find_created(ctx, desired, intent)
            if found is not None:
                return found, False
            if ambiguous >= CREATE_ATTEMPTS:
                raise
            ctx.sleep(min(8.0, 0.5 * 2 ** ambiguous))


def _find_created(ctx: Context, desired: DesiredResource, intent: Intent,
                  listed: tuple[Generation, ...] | None = None) -> Generation | None:
    """A live resource this intent (or an earlier unrecorded attempt at the same spec) already created.

    `listed`: generations this run already read for the name; None asks the API.
    """
    entry = ctx.journal.entry(desired.name)
    # recorded already, deleted by this run, or released by `state rm` (foreign: never adopted back)
    skip = (entry.recorded_keys if entry else frozenset()) | ctx.removed | set(ctx.journal.lock.released)
    if listed is None:
        listed = tuple(ctx.platform(desired.platform).lookup(ctx.client(desired.platform), desired))
    return _created_among(listed, desired, intent, skip)


def _created_among(generations: Iterable[Generation], desired: DesiredResource, intent: Intent,
                   recorded: frozenset[str] | set[str]) -> Generation | None:
    """The unrecorded generation of this spec to adopt: the intent's own, else one not ended in failure."""
    mine = [g for g in generations if g.owner == desired.name and digest_matches(desired.digest, g.digest)
            and g.key not in recorded]
    by_intent = [g for g in mine if g.intent == intent.id]
    usable = by_intent or [g for g in mine if g.phase not in ENDED_BADLY]
    return max(usable, key=lambda g: g.create_time) if usable else None


def _clear_occupant(ctx: Context, change: Change, desired: DesiredResource) -> None:
    """--replace of an unchanged spec reuses a deterministic id: the resource holding it must go first."""
    platform = ctx.platform(desired.platform)
    key = platform.occupant(desired)
    if key is None or key not in change.targets:
        return
    ctx.removed.add(key)  # before the call: once sent, this run must never adopt it back from a listing
    occupant = ctx.observed.find(key) or Generation(platform=platform.name, owner=desired.name, digest="",
                                                    phase="succeeded", model=key)
    platform.remove(ctx.client(desired.platform), occupant, ctx.steps(desired.name), ctx.identity)
    ctx.journal.update(desired.name, lambda e: e.without_generation(key, keep_entry=True) if e else None)


def _record_trained(ctx: Context, desired: DesiredResource, generation: Generation, change: Change) -> None:
    """The new generation, the spec it was created from, the gs:// data as read by this run's refresh (what a
    later plan compares to notice changed data) and the estimate the reviewer saw."""
    trained_on = tuple(ctx.observed.data[uri] for uri in desired.remote_data.values()
                       if uri in ctx.observed.data and ctx.observed.data[uri].read)

    def record(entry: LockEntry | None) -> LockEntry:
        entry = entry or LockEntry.new(desired)
        return entry.with_current(generation, digest=desired.digest, spec=AppliedSpec.of(desired),
                                  protect=desired.policy.protect, project=desired.project,
                                  location=desired.location, trained_on=trained_on, estimate=dict(change.estimate))
    ctx.journal.update(desired.name, record)


def _with_pending(entry: LockEntry | None, desired: DesiredResource, intent: Intent) -> LockEntry:
    entry = entry or replace(LockEntry.new(desired), digest="")
    return replace(entry, pending=intent)


def _upstream_model(ctx: Context, desired: DesiredResource) -> str:
    """The model of the upstream's wanted spec (recorded, or live and about to be adopted); waits with --wait."""
    wanted = ctx.desired.get(desired.depends_on)
    upstream = ctx.journal.entry(desired.depends_on)
    recorded = [upstream.current] if upstream and upstream.current else []
    live_done = [g for g in reversed(ctx.observed.of(desired.depends_on))
                 if g.phase == "succeeded" and g.model and g.model_exists]
    matching = [g for g in recorded + live_done if wanted is None or digest_matches(wanted.digest, g.digest)]
    current = matching[0] if matching else None  # never the model of an older upstream spec
    live = ctx.succeeded(desired.depends_on, current, waits=f"waits for {desired.depends_on} to succeed")
    return live.model
