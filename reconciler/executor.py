"""The executor: carries out a reviewed plan, one side effect at a time, persisting after each.

Rules it never breaks:
- an intent is written to the lock before any create, and the live APIs are searched for that intent (and for
  any unrecorded job of the same spec) before creating, and again after any ambiguous answer;
- the lock is written after every single side effect, so a crash loses at most the answer to one request;
- only the resources a change names are touched; nothing else is cancelled, deleted or created.
Independent manifests run concurrently; a manifest's own changes run in order; a `fromManifest` dependent
waits for its upstream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Literal

from reconciler import lockfile, payloads, refresh
from reconciler.clients import Clients
from reconciler.errors import (AlreadyExists, ApiError, DeadlineExceeded, FailedPrecondition, Internal, NotFound,
                               ResourceExhausted, TransportError, Unavailable)
from reconciler.lockfile import Intent, Lock, LockEntry
from reconciler.observed import Generation, ObservedState, digest_matches
from reconciler.plan import Change, Plan
from reconciler.resources import DesiredResource, DesiredState
from reconciler.tracker import poll

AMBIGUOUS = (TransportError, Unavailable, Internal, DeadlineExceeded)  # the create may or may not have happened
CREATE_ATTEMPTS = 4
FRESH_LISTING_SECONDS = 30.0  # how long this run's own refresh stands in for the lookup before a create
THROTTLED_ATTEMPTS = 30  # a 429 on a create is a definite "not done": waiting and resending is always safe

Status = Literal["done", "failed", "deferred", "skipped"]


@dataclass(frozen=True)
class Outcome:
    name: str
    action: str
    status: Status
    detail: str


class Interrupted(Exception):
    """Raised between side effects once a stop was requested (Ctrl-C)."""


class Journal:
    """The only writer of the lock during a run: applies a pure update to an entry and persists it at once.

    Writes are group-committed: `update` returns only once a write that includes its change is on disk, but
    one write carries every change the workers made meanwhile, so eight workers do not queue for eight writes.
    """

    def __init__(self, path, lock: Lock):
        self.path = path
        self.lock = lock  # every update applied, on disk or about to be
        self._state = threading.Lock()  # guards `lock` and the counters
        self._disk = threading.Lock()  # one write at a time
        self._applied = self._written = 0

    def entry(self, name: str) -> LockEntry | None:
        return self.lock.entries.get(name)

    def update(self, name: str, change: Callable[[LockEntry | None], LockEntry | None]) -> None:
        with self._state:
            before = self.lock.entries.get(name)
            after = change(before)
            if after == before:
                return
            self.lock = self.lock.with_entry(after) if after is not None else self.lock.without(name)
            self._applied += 1
            mine = self._applied
        self._persist(mine)

    def observe(self, generations: Iterable[Generation]) -> None:
        """Record what was learned about recorded generations (a job ended, its model and endpoints appeared):
        one write, and only when something a reader of the lock cares about changed."""
        fresh = {refresh.name_tail(g.key): g for g in generations if g is not None and g.key}
        with self._state:
            entries = dict(self.lock.entries)
            for name, entry in self.lock.entries.items():
                current = _observed(entry.current, fresh) if entry.current else None
                superseded = tuple(_observed(g, fresh) for g in entry.superseded)
                if current != entry.current or superseded != entry.superseded:
                    entries[name] = replace(entry, current=current, superseded=superseded)
            if entries == dict(self.lock.entries):
                return
            self.lock = replace(self.lock, entries=entries)
            self._applied += 1
            mine = self._applied
        self._persist(mine)

    def _persist(self, mine: int) -> None:
        with self._disk:
            if self._written >= mine:
                return  # a write that started after this change was applied already carried it
            with self._state:
                snapshot, upto = self.lock, self._applied
            written = lockfile.write(self.path, snapshot)
            with self._state:
                self.lock = replace(self.lock, serial=written.serial)
                self._written = upto


class Executor:
    def __init__(self, desired: DesiredState, observed: ObservedState, journal: Journal, clients: Clients, *,
                 parallelism: int = 8, wait_for_upstream: Callable[[str], Generation | None] | None = None,
                 stop: threading.Event | None = None, report: Callable[[str], None] = lambda line: None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 observed_at: float | None = None):
        self.desired = desired.resources
        self.observed = observed
        self.clock = clock
        self.observed_at = clock() if observed_at is None else observed_at  # when `observed` was listed
        self.removed: set[str] = set()  # what this run deleted or stopped: never "found" again by a lookup
        self.journal = journal
        self.vertex, self.gemini = clients.vertex, clients.gemini
        self.parallelism = max(1, parallelism)
        self.wait_for_upstream = wait_for_upstream
        self.stop = stop or threading.Event()
        self.report = report
        self.sleep = sleep

    # ------------------------------------------------------------------------------------------ running

    def run(self, plan: Plan) -> list[Outcome]:
        self.journal.observe(self.observed.generations)  # the last observed state, before changing anything
        groups: dict[str, list[Change]] = {}
        for change in plan.changes:
            if change.is_change:
                groups.setdefault(change.name, []).append(change)
        futures: dict[str, Future] = {}
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="apply") as pool:
            for name, changes in groups.items():  # plan order: an upstream is submitted before its dependents
                # Whatever the upstream does in this run (train, adopt, update) ends before a dependent trains
                # on it, even when the plan did not have to say `after` (its model was already there).
                depends_on = next((c.after for c in changes if c.after), "") or self._depends_on(name)
                futures[name] = pool.submit(self._run_group, changes, futures.get(depends_on))
            return [outcome for name in groups for outcome in futures[name].result()]

    def _run_group(self, changes: list[Change], upstream: Future | None) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for index, change in enumerate(changes):
            if self.stop.is_set():
                outcomes += [Outcome(c.name, c.action, "skipped", "interrupted before it started")
                             for c in changes[index:]]
                break
            if upstream is not None and change.action in ("train", "retrain"):
                upstream.result()
            try:
                detail = self._execute(change)
            except Deferred as deferred:
                outcomes.append(Outcome(change.name, change.action, "deferred", str(deferred)))
                break
            except (ApiError, Interrupted) as err:
                outcomes.append(Outcome(change.name, change.action, "failed", str(err)))
                outcomes += [Outcome(c.name, c.action, "skipped", f"not attempted after the {change.action} failed")
                             for c in changes[index + 1:]]
                break
            outcomes.append(Outcome(change.name, change.action, "done", detail))
            self.report(f"{change.symbol} {change.action} {change.name}: {detail}")
        return outcomes

    def _execute(self, change: Change) -> str:
        handler = {"train": self._train, "retrain": self._train, "update": self._update, "cancel": self._cancel,
                   "delete": self._remove, "retire": self._remove, "adopt": self._adopt,
                   "forget": self._forget}[change.action]
        return handler(change)

    # ------------------------------------------------------------------------------------------ train

    def _train(self, change: Change) -> str:
        desired = self.desired[change.name]
        upstream_model = self._upstream_model(desired) if desired.depends_on else None
        entry = self.journal.entry(change.name)
        earlier = entry.pending if entry and entry.pending and entry.pending.digest == desired.digest else None
        intent = earlier or Intent.new("train", desired.digest)
        self.journal.update(change.name, lambda e: _with_pending(e, desired, intent))
        if desired.platform == "gemini-api":
            self._clear_gemini_id(change, desired)
        # The lookup before a create: this run's own label-filtered listing when it is seconds old and no earlier
        # run left an intent behind (the run lock keeps other applies out meanwhile); the API otherwise.
        fresh = earlier is None and self.clock() - self.observed_at < FRESH_LISTING_SECONDS
        found = self._find_created(desired, intent, listed=self.observed.of(desired.name) if fresh else None)
        if found is not None:
            self._record_trained(desired, found)
            return f"adopted {found.key}, created by an earlier interrupted attempt"
        created, answered = self._create(desired, intent, upstream_model)
        self._record_trained(desired, created)
        if not answered:
            return f"started {created.key} (its create answer was lost; found it by {self._ownership(desired)})"
        return f"started {created.key}"

    def _create(self, desired: DesiredResource, intent: Intent,
                upstream_model: str | None) -> tuple[Generation, bool]:
        """The created generation, and whether the create's own answer said so (False: found by lookup)."""
        throttled = ambiguous = 0
        while True:
            self._check_stop()
            try:
                return self._send_create(desired, intent, upstream_model), True
            except ResourceExhausted:
                throttled += 1  # refused, not performed; the shared limiter already holds every worker back
                if throttled >= THROTTLED_ATTEMPTS:
                    raise
            except AlreadyExists:  # the Gemini API: our deterministic id exists, so an earlier create landed
                for attempt in range(CREATE_ATTEMPTS):  # a read right after may not see it yet: look again
                    found = self._find_created(desired, intent)
                    if found is not None:
                        return found, False
                    self.sleep(min(8.0, 0.5 * 2 ** attempt))
                raise
            except AMBIGUOUS:
                ambiguous += 1
                found = self._find_created(desired, intent)
                if found is not None:
                    return found, False
                if ambiguous >= CREATE_ATTEMPTS:
                    raise
                self.sleep(min(8.0, 0.5 * 2 ** ambiguous))

    @staticmethod
    def _ownership(desired: DesiredResource) -> str:
        return "its ownership labels" if desired.platform == "vertex" else "its deterministic tunedModelId"

    def _send_create(self, desired: DesiredResource, intent: Intent, upstream_model: str | None) -> Generation:
        if desired.platform == "vertex":
            parent = f"projects/{desired.project}/locations/{desired.location}"
            job = self.vertex.create_tuning_job(parent, payloads.tuning_job(desired, intent.id, upstream_model))
            return refresh.vertex_generation(job)
        operation = self.gemini.create_tuned_model(payloads.tuned_model(desired, upstream_model),
                                                   desired.tuned_model_id)
        model_name = (operation.get("metadata") or {}).get("tunedModel") or \
            operation["name"].split("/operations/")[0]
        return Generation(platform="gemini-api", owner=desired.name, digest=desired.digest[:8], phase="running",
                          model=model_name, live=dict(desired.mutable), operation=operation.get("name", ""),
                          state="CREATING")

    def _find_created(self, desired: DesiredResource, intent: Intent,
                      listed: tuple[Generation, ...] | None = None) -> Generation | None:
        """A live resource this intent (or an earlier unrecorded attempt at the same spec) already created.

        `listed`: generations this run already read for the name; None asks the API.
        """
        skip = _recorded_keys(self.journal.entry(desired.name)) | self.removed
        if listed is not None:
            return _created_among(listed, desired, intent, skip)
        if desired.platform == "gemini-api":
            try:
                model = self.gemini.get_tuned_model(f"tunedModels/{desired.tuned_model_id}")
            except NotFound:
                return None
            return _created_among([refresh.gemini_generation(model, None)], desired, intent, skip)
        parent = f"projects/{desired.project}/locations/{desired.location}"
        jobs = [refresh.vertex_generation(job) for job in
                self.vertex.list_tuning_jobs(parent, filter=payloads.ownership_filter(desired))]
        return _created_among(jobs, desired, intent, skip)

    def _clear_gemini_id(self, change: Change, desired: DesiredResource) -> None:
        """--replace of an unchanged spec reuses the deterministic id: the old model must go first."""
        name = f"tunedModels/{desired.tuned_model_id}"
        if name not in change.targets:
            return
        self._delete_gemini(name)
        self.journal.update(desired.name, lambda e: _without_generation(e, name, keep_entry=True))

    def _record_trained(self, desired: DesiredResource, generation: Generation) -> None:
        def record(entry: LockEntry | None) -> LockEntry:
            entry = entry or _new_entry(desired)
            previous = [g for g in (entry.current, *entry.superseded) if g and g.key != generation.key]
            return replace(entry, digest=desired.digest, spec=_spec(desired), current=generation,
                           superseded=tuple(previous), pending=None, protect=desired.policy.protect,
                           project=desired.project, location=desired.location)
        self.journal.update(desired.name, record)

    def _depends_on(self, name: str) -> str:
        desired = self.desired.get(name)
        return desired.depends_on or "" if desired else ""

    def _upstream_model(self, desired: DesiredResource) -> str:
        """The model of the upstream's wanted spec (recorded, or live and about to be adopted); waits with --wait."""
        wanted = self.desired.get(desired.depends_on)
        upstream = self.journal.entry(desired.depends_on)
        recorded = [upstream.current] if upstream and upstream.current else []
        live_done = [g for g in reversed(self.observed.of(desired.depends_on))
                     if g.phase == "succeeded" and g.model and g.model_exists]
        matching = [g for g in recorded + live_done
                    if wanted is None or digest_matches(wanted.digest, g.digest)]
        current = matching[0] if matching else None  # never the model of an older upstream spec
        live = self._poll(current) if current else None
        if live is not None and live.active and self.wait_for_upstream is not None:
            live = self.wait_for_upstream(desired.depends_on)
        if live is None or live.phase != "succeeded" or not live.model:
            state = live.phase if live else "not trained with its current spec yet"
            raise Deferred(f"waits for {desired.depends_on} to succeed (it is {state}); "
                           "run apply again once it has, or use --wait")
        return live.model

    # ------------------------------------------------------------------------------------------ other actions

    def _adopt(self, change: Change) -> str:
        generation = self.observed.find(change.targets[0])
        if generation is None:
            raise NotFound(f"{change.targets[0]} disappeared since the plan was made")
        desired = self.desired.get(change.name)

        def adopt(entry: LockEntry | None) -> LockEntry:
            base = entry or (_new_entry(desired) if desired else _orphan_entry(generation))
            older = [g for g in (base.current, *base.superseded) if g and g.key != generation.key]
            matches = desired is not None and digest_matches(desired.digest, generation.digest)
            return replace(base, current=generation, superseded=tuple(older), pending=None,
                           digest=desired.digest if matches else generation.digest,
                           spec=_spec(desired) if matches else base.spec)
        self.journal.update(change.name, adopt)
        return f"recorded {generation.key} in the lock"

    def _forget(self, change: Change) -> str:
        self.journal.update(change.name, lambda entry: None)
        return "dropped from the lock; live resources untouched"

    def _update(self, change: Change) -> str:
        desired = self.desired[change.name]
        generation = self._generation_of(change.name, change.targets[0]) if change.targets else None
        if generation is None or not generation.model:
            raise NotFound(f"{change.name}: the model to update is gone since the plan was made")
        fields = sorted({d.path.split(".")[0] for d in change.diffs} - {"policy"})  # policy lives in the lock only
        mask: list[str] = []
        if fields and desired.platform == "vertex":
            model = self.vertex.get_model(_model_base(generation.model))
            body, mask = payloads.model_patch(desired, fields, model.get("labels") or {})
            self.vertex.patch_model(_model_base(generation.model), body, mask)
        elif fields:
            body, mask = payloads.model_patch(desired, fields, {})
            self.gemini.patch_tuned_model(generation.model, body, mask)

        def record(entry: LockEntry | None) -> LockEntry | None:
            if entry is None:
                return None
            live = {**(entry.current.live if entry.current else {}), **{f: desired.mutable.get(f) for f in fields}}
            current = replace(entry.current, live=live) if entry.current else None
            return replace(entry, spec=_spec(desired), current=current, protect=desired.policy.protect)
        self.journal.update(change.name, record)
        return f"patched {', '.join(mask)} on {generation.model}" if mask else "recorded the new policy"

    def _cancel(self, change: Change) -> str:
        key = change.targets[0]
        if key.startswith("tunedModels/"):
            self._delete_gemini(key)  # the Gemini API has no cancel: deleting the CREATING model stops the tune
            self._record_gone(change.name, key)
            return f"stopped the tune by deleting {key}"
        try:
            self.vertex.cancel_tuning_job(key)
        except FailedPrecondition:
            pass  # already terminal: recorded below as whatever it ended as
        job = refresh.vertex_generation(self.vertex.get_tuning_job(key))
        self.journal.update(change.name, lambda e: _with_generation(e, job))
        return f"cancel requested for {key} (now {job.phase})"

    def _remove(self, change: Change) -> str:
        key = change.targets[0]
        generation = self.observed.find(key)
        if generation is None:
            self._record_gone(change.name, key)
            return f"{key} was already gone"
        if generation.platform == "gemini-api":
            self._delete_gemini(generation.model)
        else:
            self._remove_vertex(change.name, generation)
        self._record_gone(change.name, key)
        return f"deleted {generation.model or key}"

    def _remove_vertex(self, name: str, generation: Generation) -> None:
        """Undeploy from every endpoint, delete the endpoints the job created, then the model version."""
        if not generation.model:
            return
        base = _model_base(generation.model)
        try:
            model = self.vertex.get_model(generation.model)
        except NotFound:
            return
        version = generation.model.partition("@")[2] or str(model.get("versionId") or "")
        endpoints = set(generation.endpoints) | {d.get("endpoint") for d in model.get("deployedModels") or ()}
        for endpoint in sorted(e for e in endpoints if e):
            self._check_stop()
            self._undeploy_everywhere(endpoint, base, version, name)
            remaining = tuple(e for e in generation.endpoints if e != endpoint)
            generation = replace(generation, endpoints=remaining)
            self.journal.update(name, lambda e: _with_generation(e, generation))
        self._check_stop()
        versions = list(self.vertex.list_model_versions(base))
        try:
            if len(versions) > 1:
                self.vertex.wait_operation(self.vertex.delete_model_version(generation.model))
            else:
                self.vertex.wait_operation(self.vertex.delete_model(base))
        except NotFound:
            pass

    def _undeploy_everywhere(self, endpoint: str, model_base: str, version: str, name: str) -> None:
        """Undeploy this model version (never another version of the same model: a continuous-tuning job may
        have added its version to its upstream's model) and delete the endpoint if it was this job's own."""
        try:
            live = self.vertex.get_endpoint(endpoint)
        except NotFound:
            return
        deployed = live.get("deployedModels") or []
        ours = [d for d in deployed if refresh.model_tail(d.get("model", "")) == refresh.model_tail(model_base)
                and (not version or refresh.deployed_version(d) == version)]
        for deployed_model in ours:
            self._check_stop()
            try:
                self.vertex.wait_operation(self.vertex.undeploy_model(endpoint, deployed_model["id"]))
            except NotFound:
                pass
        labels = live.get("labels") or {}
        if len(ours) == len(deployed) and labels.get(payloads.MANAGED_BY) == "reconciler" \
                and labels.get(payloads.NAME_LABEL, name) == name:
            try:  # an endpoint the tuning job created for this model; one serving anything else is left alone
                self.vertex.wait_operation(self.vertex.delete_endpoint(endpoint))
            except NotFound:
                pass

    def _record_gone(self, name: str, key: str) -> None:
        """Drop a generation that no longer exists; the entry itself goes once a removed manifest has nothing left."""
        self.journal.update(name, lambda e: _without_generation(e, key, keep_entry=name in self.desired))

    def _delete_gemini(self, name: str) -> None:
        self.removed.add(name)  # before the call: once sent, this run must never adopt it back from a listing
        try:
            self.gemini.delete_tuned_model(name)
        except NotFound:
            pass

    def _generation_of(self, name: str, target: str) -> Generation | None:
        """The observed generation a change names: by its key (job / tuned model) or by its Vertex model."""
        found = self.observed.find(target)
        if found is not None:
            return found
        return next((g for g in self.observed.of(name) if g.model and target in (g.model, _model_base(g.model))),
                    None)

    # ------------------------------------------------------------------------------------------ polling

    def _poll(self, generation: Generation) -> Generation | None:
        return poll(generation, self.vertex, self.gemini)

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Interrupted("interrupted: stopped before the next request; the lock records everything done")


class Deferred(Exception):
    """A change that cannot start yet (its upstream has not succeeded); not a failure."""


# ---------------------------------------------------------------------------------------------- lock updates


def _created_among(generations: Iterable[Generation], desired: DesiredResource, intent: Intent,
                   recorded: set[str]) -> Generation | None:
    """The unrecorded generation of this spec to adopt: the intent's own, else one not ended in failure."""
    mine = [g for g in generations if g.owner == desired.name and digest_matches(desired.digest, g.digest)
            and g.key not in recorded]
    by_intent = [g for g in mine if g.intent == intent.id]
    usable = by_intent or [g for g in mine if g.phase not in ("failed", "cancelled", "expired")]
    return max(usable, key=lambda g: g.create_time) if usable else None


def _spec(desired: DesiredResource) -> dict:
    return {"immutable": desired.immutable, "mutable": desired.mutable, "policy": desired.policy.model_dump()}


def _new_entry(desired: DesiredResource) -> LockEntry:
    return LockEntry(name=desired.name, platform=desired.platform, project=desired.project,
                     location=desired.location, digest=desired.digest, spec=_spec(desired), current=None,
                     protect=desired.policy.protect)


def _orphan_entry(generation: Generation) -> LockEntry:
    project, location = _scope_of(generation.job or "")
    return LockEntry(name=generation.owner, platform=generation.platform, project=project, location=location,
                     digest=generation.digest, spec={}, current=None)


def _with_pending(entry: LockEntry | None, desired: DesiredResource, intent: Intent) -> LockEntry:
    entry = entry or replace(_new_entry(desired), digest="")
    return replace(entry, pending=intent)


def _with_generation(entry: LockEntry | None, generation: Generation) -> LockEntry | None:
    if entry is None:
        return None
    if entry.current and entry.current.key == generation.key:
        return replace(entry, current=generation)
    return replace(entry, superseded=tuple(generation if g.key == generation.key else g for g in entry.superseded))


def _without_generation(entry: LockEntry | None, key: str, *, keep_entry: bool) -> LockEntry | None:
    if entry is None:
        return None
    current = None if entry.current and entry.current.key == key else entry.current
    superseded = tuple(g for g in entry.superseded if g.key != key)
    if current is None and not superseded and not keep_entry and entry.pending is None:
        return None
    return replace(entry, current=current, superseded=superseded)


_LEARNED = ("phase", "model", "model_exists", "endpoints", "error", "live")


def _observed(recorded: Generation, fresh: dict[str, Generation]) -> Generation:
    """`recorded` updated with a fresh observation of the same resource, keeping what only the lock knows."""
    seen = fresh.get(refresh.name_tail(recorded.key))
    if seen is None or seen.platform != recorded.platform or \
            all(getattr(seen, f) == getattr(recorded, f) for f in _LEARNED):
        return recorded
    return replace(recorded, **{f: getattr(seen, f) for f in _LEARNED}, state=seen.state, progress=seen.progress,
                   create_time=recorded.create_time or seen.create_time, intent=recorded.intent or seen.intent,
                   operation=recorded.operation or seen.operation)


def _recorded_keys(entry: LockEntry | None) -> set[str]:
    if entry is None:
        return set()
    return {g.key for g in (entry.current, *entry.superseded) if g}


def _model_base(model: str) -> str:
    return model.split("@", 1)[0]



def _scope_of(job: str) -> tuple[str | None, str | None]:
    parts = job.split("/")
    return (parts[1], parts[3]) if len(parts) > 3 and parts[0] == "projects" else (None, None)
