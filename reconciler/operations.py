"""The library API: validate, plan, apply, status and wait, as a program would call them.

A `Workspace` is one manifest root with its state backend and its connection to the platforms it needs.
Nothing here prints: what a person should see goes to a `Listener` (the CLI renders it; a program may
ignore it). Which exit code a result means is the CLI's business.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from reconciler import manifest, refresh
from reconciler.apply import watch
from reconciler.apply.stop import abandonable
from reconciler.backends import ensure_bucket, open_backend
from reconciler.desired import DIGEST_ALGORITHM, DesiredState
from reconciler.errors import ManifestError, Unauthenticated, UserError
from reconciler.observed import Generation, ObservedState, name_tail
from reconciler.state.backend import StateBackend
from reconciler.state.model import Lock

if TYPE_CHECKING:
    from reconciler.apply.executor import Outcome
    from reconciler.plan.model import Plan
    from reconciler.state.journal import Journal

# What only planning and applying use (the planner, pricing, the executor, the journal) is imported where it is
# used: `status` and `wait` read the lock and the live jobs, and importing the rest was a third of their time.


def validate(path: str) -> DesiredState:
    """Offline: load and check every manifest under `path`; raises ManifestError with every problem."""
    return manifest.load(path)


@dataclass
class Workspace:
    root: str
    desired: DesiredState
    backend: StateBackend
    lock: Lock | None
    clients: Any = None
    observed: ObservedState = field(default_factory=ObservedState)
    observed_at: float = 0.0  # time.monotonic() when the live state was listed
    targets: frozenset[str] = frozenset()  # --target: only what these (and what they tune on) need is read
    remote: bool = False  # --remote: the gs:// datasets a paid change trains on are read, checked and priced

    def scopes(self) -> list[tuple[str, str | None, str | None]]:
        desired, lock = needed(self.desired, self.lock, self.targets)
        scopes = {r.scope for r in desired.resources.values()}
        scopes |= {(e.platform, e.project, e.location) for e in (lock.entries.values() if lock else ())}
        return sorted(scopes, key=lambda s: tuple(x or "" for x in s))

    def platforms(self) -> set[str]:
        return {platform for platform, _, _ in self.scopes()}

    def refresh(self) -> ObservedState:
        self.observed_at = time.monotonic()
        records = self.lock.generations() if self.lock else []
        desired, lock = needed(self.desired, self.lock, self.targets)
        self.observed = refresh.refresh(
            self.scopes(),
            refresh.claims(desired, lock),
            clients=self.clients,
            operations={g.model: g.operation for g in records if g.operation and g.model},
            data=[uri for r in desired.resources.values() for uri in r.remote_data.values()],
        )
        released = {name_tail(key) for key in (self.lock.released if self.lock else ())}
        if released:  # `state rm` made them foreign: never adopted by their labels again, never deleted
            self.observed = replace(self.observed, generations=tuple(g for g in self.observed.generations
                                                                     if name_tail(g.key) not in released))
        return self.observed

    def plan(self, targets: frozenset[str] = frozenset(), replace: frozenset[str] = frozenset()) -> Plan:
        from reconciler.datasets import edits, planned
        from reconciler.plan import costing, planner
        from reconciler.platforms import base_models

        self._check_names("--target", targets, allow_lock=True)
        self._check_names("--replace", replace, allow_lock=False)
        targets = selected_targets(self.desired, targets)
        options = planner.Options(targets=targets, replace=replace, digest_algorithm=DIGEST_ALGORITHM,
                                  root=_portable(self.root), created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        plan = planner.plan(self.desired, self.observed, self.lock, options)
        base_models.check(plan, self.desired, self.clients)  # before anything is paid for
        planned.check(plan, self.desired, self.observed)
        plan = edits.described(plan, self.desired, getattr(self.clients, "storage", None))
        return costing.priced(plan, self.desired, self._read_data(plan) if self.remote else None)

    def _read_data(self, plan: Plan) -> dict[str, int]:
        """--remote: the characters of every gs:// dataset a paid change of `plan` trains on (for its estimate),
        each downloaded, streamed, and checked as `validate --remote` does: a broken one fails before any cost."""
        from reconciler.datasets import remote
        from reconciler.manifest.diagnostics import Diagnostics

        paid = [self.desired.resources[c.name] for c in plan.changes if c.costly and c.name in self.desired.resources]
        diagnostics = Diagnostics()
        found = remote.check_all(getattr(self.clients, "storage", None), paid, diagnostics)
        if diagnostics.errors:
            raise ManifestError(list(diagnostics.items))
        return {uri: summary.characters for uri, summary in found.items()}

    def reviewed(self, saved: Plan) -> tuple[Plan, Plan]:
        """What of the saved plan may be carried out now (planfile.verify), and the fresh plan it came from."""
        from reconciler.plan import binding, planfile

        fresh = self.plan(frozenset(saved.targets), frozenset(saved.replace))
        now = binding.inputs(saved.inputs, self.desired, self.lock, self.observed)
        return planfile.verify(saved, fresh, self.lock, now), fresh

    def _check_names(self, flag: str, names: frozenset[str], *, allow_lock: bool) -> None:
        known = set(self.desired.resources) | (set(self.lock.entries) if allow_lock and self.lock else set())
        unknown = sorted(names - known)
        if unknown:
            raise UserError(f"{flag} {', '.join(unknown)}: no manifest of that name under {self.root} "
                            f"(known: {', '.join(sorted(known)) or 'none'})")


def selected_targets(desired: DesiredState, targets: frozenset[str]) -> frozenset[str]:
    """The names a plan covers when the path given is part of its root (`desired.selected`: a sub-directory or a
    file): those under it, as if each were a --target, so that nothing outside it is removed or adopted; with
    --target, only names under it. An empty selection is refused: no targets would mean every manifest."""
    selected = desired.selected
    if selected is None:
        return targets
    root = desired.config.root
    if not selected:
        raise UserError(f"no manifests under the path given: nothing to plan (its manifest root is {root}; "
                        f"removals of manifests are planned only from the root)")
    outside = sorted(targets - selected)
    if outside:
        raise UserError(f"--target {', '.join(outside)}: not under the path given (root {root}); run on the root "
                        "to plan it")
    return targets or selected


def _portable(root: str) -> str:
    """A root as a saved plan records it: relative to the working directory, so another checkout can apply it."""
    try:
        return Path(os.path.relpath(root)).as_posix()
    except ValueError:  # another drive (Windows): nothing relative to say
        return root


def needed(desired: DesiredState, lock: Lock | None, targets: frozenset[str]) -> tuple[DesiredState, Lock | None]:
    """The manifests and lock entries a run on `targets` (and what they tune on) needs; all without targets.
    What is not needed is neither read nor connected to: a Vertex-only --target needs no Gemini credentials."""
    if not targets:
        return desired, lock
    from reconciler.plan import order

    names = order.select(targets, desired.resources, targets)
    narrowed = replace(desired, resources={n: r for n, r in desired.resources.items() if n in names})
    return narrowed, replace(lock, entries={n: e for n, e in lock.entries.items() if n in names}) if lock else None


@contextmanager
def open_workspace(path: str, *, api_endpoint: str | None = None, emulator: bool = False,
                   connect_apis: bool = True, limiter: Any = None,
                   targets: frozenset[str] = frozenset(), remote: bool = False,
                   manifests: bool = True) -> Iterator[Workspace]:
    """`manifests=False`: the lock is all the command acts on (status, wait), so no manifest is read."""
    if manifests:
        desired = manifest.load(path)
    else:
        desired = manifest.load_config(path)
    with open_backend(desired.config, api_endpoint=api_endpoint, emulator=emulator) as backend:
        workspace = Workspace(root=str(Path(path).resolve()), desired=desired, backend=backend,
                              lock=backend.read(), targets=targets, remote=remote)
        if not connect_apis:
            yield workspace
            return
        from reconciler.platforms.connect import connect

        with connect(workspace.platforms(), api_endpoint=api_endpoint, emulator=emulator,
                     limiter=limiter, quota_project=desired.config.quota_project) as clients:
            workspace.clients = clients
            if emulator and desired.config.staging and clients.storage is not None:
                from reconciler.clients.storage import split_uri
                ensure_bucket(clients.storage, desired.config.defaults.project or "emulator-project",
                              split_uri(desired.config.staging)[0])
            yield workspace


class Listener(Protocol):
    """What a person watching a run is told; every method may do nothing."""

    def warn(self, message: str) -> None: ...
    def planned(self, plan: Plan) -> None: ...
    def confirm(self, plan: Plan) -> None:
        """Raise UserError to refuse the plan (only asked when it was not reviewed as a saved plan)."""
    def did(self, line: str) -> None: ...
    def outcomes(self, outcomes: list[Outcome]) -> None: ...
    def waiting(self, generations: dict[str, Generation]) -> AbstractContextManager[Callable[[dict], None]]: ...
    def say(self, message: str) -> None: ...
    def lock_busy(self, holder: Any, seconds_left: float) -> None:
        """Another run holds the state lock; this one waits (`--lock-timeout`) for `seconds_left` more."""


@dataclass(frozen=True)
class ApplyOptions:
    targets: frozenset[str] = frozenset()
    replace: frozenset[str] = frozenset()
    wait: bool = False
    timeout: float | None = None
    parallelism: int | None = None  # None: 8 per scope the plan changes, at most 32 (apply.executor)
    poll_interval: float = 5.0
    lock_timeout: float = 0.0  # seconds to wait for another run's state lock
    reviewed_only: bool = False  # carry out only the follow-ups reviewed plans authorized (nothing to confirm)
    max_cost: float | None = None  # --max-cost USD: refuse a plan whose estimated cost exceeds it (or is unknown)


@dataclass
class ApplyResult:
    plan: Plan
    outcomes: list[Outcome] = field(default_factory=list)
    failed: bool = False


def apply(workspace: Workspace, saved: Plan | None, options: ApplyOptions, listener: Listener,
          stop: threading.Event) -> ApplyResult:
    """Plan (or take the reviewed saved plan, if still fresh) and carry it out under the run lock."""
    from reconciler.apply import follow_ups
    from reconciler.apply.executor import Executor
    from reconciler.plan import costing, planfile
    from reconciler.state.journal import Journal

    with workspace.backend.lock("reconciler apply", timeout=options.lock_timeout,
                                waiting=listener.lock_busy) as holder:
        if holder.previous:
            listener.warn(f"warning: the previous run ({holder.previous.describe()}) ended without releasing the "
                          "state lock; taking over")
        with abandonable(stop):  # reading and deciding: an interrupt may end it here at once
            workspace.lock = workspace.backend.read()
            workspace.refresh()
            if saved:
                plan, fresh = workspace.reviewed(saved)
                if workspace.lock and saved.id in workspace.lock.applied_plans:
                    listener.say(f"Plan {saved.id} was already applied; only the follow-ups it reviewed are left "
                                 f"({len(plan.changes) or 'none'}).")
                left = planfile.left_out(plan, fresh)
                if left:
                    listener.warn(f"left alone: {len(left)} change(s) the reviewed plan does not show "
                                  f"({', '.join(sorted({c.name for c in left})[:10])}); review them in a new plan")
            else:
                fresh = workspace.plan(options.targets, options.replace)
                plan = replace(fresh, changes=fresh.reviewed_follow_ups) if options.reviewed_only else fresh
            listener.planned(plan)
            if not plan.has_changes:
                return ApplyResult(plan)
            costing.check_limits(plan, workspace.desired, options.max_cost)  # before anything starts
            if not saved and not options.reviewed_only:
                listener.confirm(plan)
        with Journal(workspace.backend, workspace.lock or Lock.empty(DIGEST_ALGORITHM)) as journal:
            waiter = _upstream_waiter(workspace, journal, options, listener) if options.wait else None
            executor = Executor(workspace.desired, workspace.observed, journal, workspace.clients,
                                parallelism=options.parallelism, stop=stop, wait_for_upstream=waiter,
                                observed_at=workspace.observed_at, report=listener.did)
            outcomes = executor.run(plan)
            journal.update_lock(lambda lock: follow_ups.record(lock, plan, fresh, outcomes, saved.id if saved
                                                               else plan.id, applied=bool(saved)))
            journal.flush()  # before anything is shown as done
            listener.outcomes(outcomes)
            # with --wait a deferral means the upstream did not succeed: the apply did not do what it said
            failed = any(o.status == "failed" or (options.wait and o.status == "deferred") for o in outcomes)
            if options.wait and not stop.is_set():
                names = {c.name for c in plan.changes}  # started now, or by an earlier run that was cut short
                failed |= not wait(workspace, journal.lock, names, options, listener, stop,
                                   on_final=lambda final: journal.observe(final.values()))
    return ApplyResult(plan, outcomes, failed)


def refresh_only(workspace: Workspace, options: ApplyOptions, listener: Listener,
                 stop: threading.Event | None = None) -> list[str]:
    """`apply --refresh-only`: record in the state what is live for what it records (a job ended, a model was
    deleted out of band), and nothing else: no API call changes anything. The names whose entry changed."""
    from reconciler.state.journal import Journal

    with workspace.backend.lock("reconciler apply --refresh-only", timeout=options.lock_timeout,
                                waiting=listener.lock_busy):
        with abandonable(stop):  # reading: an interrupt may end it here at once
            workspace.lock = workspace.backend.read()
            if workspace.lock is None:
                return []
            workspace.refresh()
        before = workspace.lock
        with Journal(workspace.backend, before) as journal:
            journal.observe(workspace.observed.generations)
            journal.update_many({name: _gone(workspace.observed) for name in before.entries})
        after = journal.lock
    return sorted(name for name in before.entries if after.entries.get(name) != before.entries[name])


def _gone(observed: ObservedState) -> Callable[[Any], Any]:
    """A recorded current model that refresh no longer finds (deleted out of band: refresh read every scope the
    state names, or failed) is recorded as gone; the entry stays, so the plan keeps saying it needs attention."""
    def record(entry: Any) -> Any:
        generation = entry.current if entry else None
        if generation is None or not generation.model_exists or observed.find(generation.key) is not None:
            return entry
        return replace(entry, current=replace(generation, model_exists=False))
    return record


def status(workspace: Workspace) -> dict[str, Generation | None]:
    """Every generation the lock calls current, as live now (None: it no longer exists): read through the
    listings, a page set per scope however many there are (`watch.observe`)."""
    recorded = workspace.lock.current(workspace.desired.selected) if workspace.lock else {}  # None: all
    return watch.observe(recorded, workspace.clients)


def wait(workspace: Workspace, lock: Lock | None, names: set[str] | None, options: ApplyOptions,
         listener: Listener, stop: threading.Event,
         on_final: Callable[[dict], None] = lambda final: None) -> bool:
    """Follow the in-flight jobs recorded in the lock until they end; True when none failed.

    `on_final` receives the last observation of each (apply records it in the lock it holds)."""
    recorded = {n: g for n, g in (lock.current(names) if lock else {}).items() if g.active}
    if not recorded:
        listener.say("Nothing in flight.")
        return True
    with listener.waiting(recorded) as show, resumable(workspace.root):
        final = watch.watch(recorded, workspace.clients, timeout=options.timeout, interval=options.poll_interval,
                            on_update=show, stop=stop.is_set)
    on_final(final)
    still = [n for n, g in final.items() if g is not None and g.active]
    if still and not stop.is_set():
        listener.say(f"Stopped waiting after the timeout; still running (nothing was cancelled): "
                     f"{', '.join(still)}. Resume with `reconciler wait`.")
    return all(g is not None and g.phase == "succeeded" for g in final.values() if g is None or not g.active)


@contextmanager
def resumable(root: str) -> Iterator[None]:
    """Credentials that stop working while waiting (a static token expires) lose nothing: say how to resume."""
    try:
        yield
    except Unauthenticated as err:
        raise Unauthenticated(f"{err.api_message}; nothing was cancelled and the lock records every job: renew "
                              f"the credentials, then run `reconciler wait {root}` to resume waiting",
                              method=err.method, url=err.url, http_status=err.http_status) from None


def _upstream_waiter(workspace: Workspace, journal: Journal, options: ApplyOptions,
                     listener: Listener) -> Callable[[str], Generation | None]:
    def wait_for(name: str) -> Generation | None:
        current = journal.entry(name).current
        listener.say(f"waiting for {name} to finish before starting its dependents")
        final = watch.watch({name: current}, workspace.clients, timeout=options.timeout,
                            interval=options.poll_interval)
        return final[name]
    return wait_for


class Silent:
    """A Listener that tells nobody anything and confirms every plan (for programs)."""

    def warn(self, message: str) -> None: ...
    def planned(self, plan: Plan) -> None: ...
    def confirm(self, plan: Plan) -> None: ...
    def did(self, line: str) -> None: ...
    def outcomes(self, outcomes: list[Outcome]) -> None: ...
    def say(self, message: str) -> None: ...
    def lock_busy(self, holder: Any, seconds_left: float) -> None: ...

    def waiting(self, generations: dict[str, Generation]) -> AbstractContextManager[Callable[[dict], None]]:
        return nullcontext(lambda now: None)
