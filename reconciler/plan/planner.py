"""The planner: a pure function from (desired, observed, lock) to a Plan. No I/O, no clients, no clock.

Each manifest name is decided on its own by `_decide`, which reads like the action table in DESIGN §1.
Field diffs come from `diff`; what differs between the APIs is asked of `platforms`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from reconciler import platforms
from reconciler.desired import DesiredState
from reconciler.frozen import defaults, made
from reconciler.observed import ENDED_BADLY, Generation, ObservedState, state_word
from reconciler.ownership import digest_matches
from reconciler.plan import binding, diff, order
from reconciler.plan.model import Change, Deferred, FieldDiff, Plan
from reconciler.plan.situation import Situation
from reconciler.state.model import Lock, LockEntry


_CHANGE_DEFAULTS, _SITUATION_DEFAULTS = defaults(Change), defaults(Situation)
DATA_CHANGED = "training data changed"  # the reason of a retrain for training data alone (datasets.edits adds to it)


@dataclass(frozen=True)
class Options:
    targets: frozenset[str] = frozenset()  # --target: only these names (and what they depend on)
    replace: frozenset[str] = frozenset()  # --replace: retrain these even though nothing changed
    digest_algorithm: str = ""
    root: str = ""
    created_at: str = ""


def plan(desired: DesiredState, observed: ObservedState, lock: Lock | None, options: Options = Options()) -> Plan:
    entries: Mapping[str, LockEntry] = lock.entries if lock else {}
    resources = desired.resources
    names = order.ordered_names(resources, entries)
    selected = order.select(names, resources, options.targets)
    algorithm_changed = bool(lock and options.digest_algorithm and lock.digest_algorithm != options.digest_algorithm)
    changes: list[Change] = []
    for name in names:
        if name not in selected:
            continue
        wanted = resources.get(name)
        situation = made(Situation, {  # frozen.made: one per manifest, 10,000 at scale
            **_SITUATION_DEFAULTS, "name": name, "desired": wanted, "entry": entries.get(name),
            "live": observed.of(name), "replace": name in options.replace, "compare_specs": algorithm_changed,
            "data": tuple(observed.data[uri] for uri in wanted.remote_data.values() if uri in observed.data)
            if wanted and observed.data else (),  # most plans read no dataset: not even the manifest's URIs needed
        })
        changes.extend(_decide(situation))
    changes = order.order_dependents(changes, resources, observed, entries)
    if lock and lock.authorized:
        changes = [_reviewed(c, lock) for c in changes]
    return Plan(
        changes=tuple(changes),
        lock_lineage=lock.lineage if lock else "",
        lock_serial=lock.serial if lock else 0,
        state_digest=binding.state_digest(lock),
        inputs=binding.inputs(binding.bound_names(changes, resources), desired, lock, observed),
        observed_fingerprint=Deferred(observed.fingerprint),
        desired_fingerprint=Deferred(desired.fingerprint),
        digest_algorithm=options.digest_algorithm,
        root=options.root,
        targets=tuple(sorted(options.targets)),
        replace=tuple(sorted(options.replace)),
        created_at=options.created_at,
    )


def _reviewed(change: Change, lock: Lock) -> Change:
    """A change an earlier reviewed plan authorized as a follow-up (and that is still exactly that change)."""
    found = lock.authorization(change.name, change.action, change.digest, change.targets)
    return replace(change, reviewed_in=found.plan) if found and change.is_change else change


# --------------------------------------------------------------------------------------------- decisions


def _decide(s: Situation) -> list[Change]:
    adoptions = _adoptions(s)
    if adoptions:
        s = replace(s, adopted=tuple(adopted for adopted, _ in adoptions))
    decided = _decide_removed(s) if s.desired is None else _decide_desired(s)
    return [change for _, change in adoptions] + decided


def _adoptions(s: Situation) -> list[tuple[Generation, Change]]:
    """Live generations owned by this name but missing from the lock (a crash, or a lost lock), all of them.

    Ordered so that the one to become current comes last (the wanted spec first, then the newest): each
    adoption makes its generation current and pushes the one before it into superseded.
    """
    recorded = s.recorded_keys
    unrecorded = [g for g in s.live if g.key not in recorded and _holds_something(g)]
    if not unrecorded:  # most names
        return []
    if s.desired:
        unrecorded.sort(key=lambda g: (digest_matches(s.desired.digest, g.digest), g.create_time))
    else:
        unrecorded.sort(key=lambda g: g.create_time)
    why = "its pending create was interrupted" if s.entry and s.entry.pending else "the lock has no record of it"
    return [(g, Change(name=s.name, action="adopt", platform=g.platform, targets=(g.key,), digest=g.digest,
                       reason=f"live {g.describe()} is owned by this manifest but {why}: record it "
                              f"{'(no API call)' if g is unrecorded[-1] else 'as superseded (no API call)'}"))
            for g in unrecorded]


def _decide_desired(s: Situation) -> list[Change]:
    current = s.current
    spec_changed = _spec_changed(s)
    if current is None:
        return [_missing(s, spec_changed)]
    data = s.data_reason
    retrain_on_data = bool(data) and s.desired.policy.onDataChange == "retrain"
    if spec_changed or s.replace or retrain_on_data:
        return _spec_change(s, current, data if retrain_on_data else "")
    changes = _same_spec(s, current)
    if not data:
        return changes
    fact = (f"{data}; not retrained (policy.onDataChange: report): set onDataChange: retrain, or run with "
            f"--replace {s.name}, to train on it")
    first = changes[0]
    return [replace(first, attention=f"{first.attention}; {fact}" if first.attention else fact), *changes[1:]]


def _missing(s: Situation, spec_changed: bool) -> Change:
    recorded = s.entry.current if s.entry else None
    ended = _ended_without_model(s)
    if recorded is None and ended is not None and not s.replace:
        error = f": {ended.error}" if ended.error else ""
        return _noop(s, f"an earlier job for this spec ended {ended.phase.upper()}",
                     attention=f"{ended.describe()} ended {ended.phase.upper()}{error}; it is retrained only by a "
                               f"spec change or --replace {s.name}")
    if recorded is None or spec_changed or s.replace:
        why = ("new manifest, nothing live" if recorded is None and not s.entry
               else "--replace requested" if s.replace
               else "spec changed" if spec_changed
               else "an earlier apply was interrupted before its create reached the API" if s.entry.pending
               else "no live tuning job recorded")
        return _train(s, "train", why)
    gone = recorded.describe()
    return _noop(s, f"{gone} no longer exists",
                 attention=f"{gone} was deleted out of band; it is not retrained automatically "
                           f"(use --replace {s.name} to train it again)")


def _holds_something(g: Generation) -> bool:
    """Worth owning: still training, or a model still live. Finished jobs without a model are history."""
    return g.active or (g.phase == "succeeded" and g.model_exists)


def _ended_without_model(s: Situation) -> Generation | None:
    """A failed, cancelled or expired job of the wanted spec that no lock remembers (a lost lock)."""
    if s.entry is not None:
        return None
    ended = [g for g in s.live if g.phase in ENDED_BADLY
             and digest_matches(s.desired.digest, g.digest)]
    return max(ended, key=lambda g: g.create_time) if ended else None


def _spec_change(s: Situation, current: Generation, data: str = "") -> list[Change]:
    """A retrain: the spec changed, --replace, or (`data`, onDataChange: retrain) the data it trained on."""
    policy = s.desired.policy
    spec_changed = _spec_changed(s)
    why = ("--replace requested" if s.replace and not spec_changed else _spec_change_reason(s) if spec_changed
           else "")
    why = "; ".join(part for part in (why, data) if part)
    # a superseded model of the same spec was trained on other data: reusing it would not train on this data
    reusable = None if s.replace or data else _reusable(s)

    def start(reason: str) -> list[Change]:
        if reusable:
            return [_reuse(s, reusable, reason)]
        retrain = _train(s, "retrain", reason, replacing=current)
        return [retrain, *_retire_after(s, retrain, current)]

    if not current.active:
        return start(why)
    if current.phase == "cancelling":  # a cancel was already sent: never send another, just start the new job
        return start(f"{why}; {current.describe()} is being cancelled")
    later = ("run --replace again once it ends (it is not remembered)" if s.replace and not _spec_changed(s)
             else "it will be retrained after it ends")
    if policy.protect:
        return [_noop(s, f"{_progress(current)}; {why}, but the running job is protected: {later}")]
    if policy.whileRunning == "wait":
        return [_noop(s, f"{_progress(current)}; {why}: {later} (whileRunning: wait)")]
    cancel = Change(
        name=s.name, action="cancel", platform=current.platform, targets=(current.key,),
        reason=f"{why} while {current.describe()} is still training (whileRunning: restart)",
    )
    return [cancel, *start(f"{why}; replaces the cancelled job")]


def _retire_after(s: Situation, retrain: Change, current: Generation) -> list[Change]:
    """The follow-up a retrain starts: once the new job succeeds, the model it replaces is retired. Shown (and
    reviewed) now, carried out by this apply with --wait, or by a later apply as a reviewed follow-up."""
    policy = s.desired.policy
    if retrain.action != "retrain" or policy.previousVersion == "keep" or policy.protect \
            or current.phase != "succeeded" or not current.model_exists:
        return []
    occupant = _id_occupant(s)
    if occupant is not None and occupant.key == current.key:  # the retrain deletes it first (its id is reused)
        return []
    moved = f" (moved from {retrain.moved_from}: the old scope keeps nothing)" if retrain.moved_from else ""
    return [Change(name=s.name, action="retire", platform=current.platform, targets=(current.key,), after=s.name,
                   reason=f"once the retrained {s.name} succeeds, {current.describe()} is superseded "
                          f"(previousVersion: retire){moved}")]


def _reusable(s: Situation) -> Generation | None:
    """A superseded model still live that was trained from exactly the wanted spec (a reverted edit)."""
    matches = [g for g in s.superseded if g.phase == "succeeded" and digest_matches(s.desired.digest, g.digest)]
    return max(matches, key=lambda g: g.create_time) if matches else None


def _reuse(s: Situation, generation: Generation, why: str) -> Change:
    return Change(name=s.name, action="adopt", platform=generation.platform, targets=(generation.key,),
                  digest=generation.digest,
                  reason=f"{why}; {generation.describe()} was trained from exactly this spec and is still live: "
                         "make it current again instead of training (no cost)")


def _same_spec(s: Situation, current: Generation) -> list[Change]:
    if current.active:
        return [_noop(s, _progress(current), diffs=diff.mutable(s.desired, current, s.entry))]
    if current.phase != "succeeded":
        error = f": {current.error}" if current.error else ""
        return [_noop(s, f"last job ended {current.phase.upper()}",
                      attention=f"{current.describe()} ended {current.phase.upper()}{error}; it is retrained only "
                                f"by a spec change or --replace {s.name}")]
    if not current.model_exists:
        return [_noop(s, "tuned model missing",
                      attention=f"model {current.model} was deleted out of band; it is not retrained automatically "
                                f"(use --replace {s.name} to train it again)")]
    changes = _retirements(s, current)
    diffs = diff.mutable(s.desired, current, s.entry) + _policy_diffs(s)
    if diffs:
        fields = ", ".join(sorted({d.path.split(".")[0] for d in diffs}))
        live = [d for d in diffs if not d.path.startswith("policy.")]
        reason = (f"mutable fields differ from the live model ({fields}): patch in place" if live
                  else "policy changed: record it in the lock (no API call)")
        changes.insert(0, Change(name=s.name, action="update", platform=current.platform, diffs=diffs,
                                 targets=(current.model,), digest=s.desired.digest, reason=reason))
    return changes or [_noop(s, "in sync")]


def _retirements(s: Situation, current: Generation) -> list[Change]:
    old = s.superseded
    if not old:
        return []
    policy = s.desired.policy
    if policy.previousVersion == "keep" or policy.protect:
        return []
    return [
        Change(name=s.name, action="retire", platform=g.platform, targets=(g.key,),
               reason=f"the retrained {current.describe()} succeeded; {g.describe()} is superseded "
                      "(previousVersion: retire)")
        for g in old
    ]


def _decide_removed(s: Situation) -> list[Change]:
    entry = s.entry
    policy = _entry_policy(entry)
    tracked = [g for g in (s.current, *s.older) if g]
    if not tracked and not entry:
        return []
    if policy.get("onDelete") == "orphan":
        return [Change(name=s.name, action="forget", platform=s.platform, targets=tuple(g.key for g in tracked),
                       reason="manifest removed (onDelete: orphan): dropped from the lock, live resources untouched")]
    if policy.get("protect", entry.protect if entry else False):
        return [_noop(s, "manifest removed, but the resource is protected: nothing is cancelled or deleted",
                      attention="restore the manifest, or apply it once with protect: false before removing it")]
    changes = []
    for g in tracked:
        if g.phase == "cancelling":  # the cancel was sent by an earlier apply; wait for it, do not repeat it
            changes.append(_noop(s, f"manifest removed; {g.describe()} is being cancelled"))
        elif g.active:
            changes.append(Change(name=s.name, action="cancel", platform=g.platform, targets=(g.key,),
                                  reason=f"manifest removed while {g.describe()} is still training"))
        elif g.model and g.model_exists:
            changes.append(Change(name=s.name, action="delete", platform=g.platform, targets=(g.key,),
                                  reason=f"manifest removed: undeploy and delete {g.describe()}"))
    if all(c.action == "noop" for c in changes) and changes:
        return changes
    changes = [c for c in changes if c.action != "noop"]
    if not changes:
        return [Change(name=s.name, action="forget", platform=s.platform,
                       reason="manifest removed and nothing it created is still live: dropped from the lock")]
    return changes


# --------------------------------------------------------------------------------------------- helpers


def _train(s: Situation, action: str, why: str, replacing: Generation | None = None) -> Change:
    change = _train_change(s, action, why, replacing)
    if change.action not in ("train", "retrain"):
        return change
    # what the reviewer reads: the data by its digest (training.file), not the repository's file list again
    spec = {k: v for k, v in s.desired.to_json().items() if k not in ("examples", "source", "data")}
    return replace(change, spec=spec, moved_from=_moved_from(s))


def _moved_from(s: Situation) -> str:
    """The project/location the recorded generation lives in, when the manifest now names another."""
    entry = s.entry
    if entry is None or entry.current is None or (entry.project, entry.location) == (s.desired.project,
                                                                                     s.desired.location):
        return ""
    return _scope_text(entry.project, entry.location)


def _scope_text(project: str | None, location: str | None) -> str:
    return "/".join(x or "-" for x in (project, location))


def _train_change(s: Situation, action: str, why: str, replacing: Generation | None = None) -> Change:
    d = s.desired
    diffs = _immutable_diffs(s) + s.data_diffs if action == "retrain" else ()
    occupant = _id_occupant(s)
    if occupant is not None and d.policy.protect and occupant.model_exists:
        return _noop(s, f"{why}, but {occupant.describe()} holds the id the new tune needs and is protected: "
                        "nothing is deleted or trained", attention="set protect: false to let it be replaced")
    if occupant is not None:  # the Gemini API id `{name}-{digest}` is taken by a model of this very spec
        targets = tuple(dict.fromkeys([occupant.key] + ([replacing.key] if replacing else [])))
        return Change(name=s.name, action=action, platform=d.platform, digest=d.digest, diffs=diffs,
                      targets=targets, after=d.depends_on or "",
                      reason=f"{why}: delete {occupant.describe()} ({occupant.phase}) first, because the new tune "
                             f"reuses its id, then start a tuning job ($); nothing serves until it succeeds")
    keep = (f"; {replacing.describe()} keeps serving until the new one succeeds"
            if replacing and replacing.phase == "succeeded" and replacing.model_exists else "")
    return Change(name=s.name, action=action, platform=d.platform, digest=d.digest, diffs=diffs,
                  targets=(replacing.key,) if replacing else (), reason=f"{why}: start a tuning job ($){keep}",
                  after=d.depends_on or "")


def _id_occupant(s: Situation) -> Generation | None:
    """On the Gemini API a spec has exactly one possible id: a live model already holding it blocks a create.
    (A model of the same spec made under another identity, or before the stack was set, holds another id.)"""
    platform = platforms.get(s.desired.platform)
    key = platform.occupant(s.desired) if platform.one_id_per_spec else None
    return s.live_of(key) if key else None


def _noop(s: Situation, reason: str, diffs: tuple[FieldDiff, ...] = (), attention: str = "") -> Change:
    if diffs:
        reason += f"; {len(diffs)} mutable field change(s) applied once training ends"
    return made(Change, {  # frozen.made: most of a plan at scale is noops
        **_CHANGE_DEFAULTS, "name": s.name, "action": "noop", "platform": s.platform, "reason": reason,
        "digest": s.desired.digest if s.desired else "", "attention": attention, "spec": {}, "estimate": {}})


def _spec_changed(s: Situation) -> bool:
    applied = s.applied_digest
    if not applied:
        return False
    if s.compare_specs and s.entry and not s.adopted:
        return bool(_immutable_diffs(s)) or s.entry.spec.immutable is None
    return not digest_matches(s.desired.digest, applied)


def _spec_change_reason(s: Situation) -> str:
    diffs = _immutable_diffs(s)
    if not diffs:
        return f"spec digest changed ({s.applied_digest[:12]} → {s.desired.digest[:12]})"
    fields = sorted({d.path for d in diffs})
    entry, d = s.entry, s.desired
    if entry and (entry.project, entry.location) != (d.project, d.location):
        return (f"moved from {_scope_text(entry.project, entry.location)} to {_scope_text(d.project, d.location)} "
                f"(immutable fields changed: {', '.join(fields)})")
    if all(p.startswith(("training", "examples")) for p in fields):
        return DATA_CHANGED
    return f"immutable fields changed: {', '.join(fields)}"


def _immutable_diffs(s: Situation) -> tuple[FieldDiff, ...]:
    return diff.immutable(s.entry, s.desired) if s.entry and not s.adopted else ()


def _policy_diffs(s: Situation) -> tuple[FieldDiff, ...]:
    return diff.policy(s.entry, s.desired) if s.entry and not s.adopted else ()


def _progress(g: Generation) -> str:
    """`training, 40%`, `queued (JOB_STATE_PENDING)`, `cancelling`: the words status and wait show (state_word)."""
    percent = f", {g.progress:.0f}%" if g.progress is not None and g.phase == "running" else ""
    raw = f" ({g.state})" if g.state and g.phase not in ("running", "cancelling") else ""
    return f"{state_word(g)}{percent}{raw}"


def _entry_policy(entry: LockEntry | None) -> dict:
    return dict(entry.spec.policy or {}) if entry else {}
