"""The executor: schedules a reviewed plan's changes and reports what became of each.

Independent manifests run concurrently; a manifest's own changes run in order, and stop at the first that
fails; a `fromManifest` dependent waits for whatever its upstream does in this run. What each action does
is in `create` and `actions`; the rules they never break are in their docstrings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import zip_longest
from typing import Any, Literal

from reconciler.apply import actions, create
from reconciler.apply.context import Context, Deferred, Interrupted
from reconciler.apply.turns import Turns
from reconciler.desired import DesiredState
from reconciler.errors import ApiError
from reconciler.observed import Generation, ObservedState
from reconciler.plan.model import Change, Plan
from reconciler.state.journal import Journal

Status = Literal["done", "failed", "deferred", "skipped"]

# Without --parallelism: this many manifests at once in each scope (a Vertex AI project and region, the Gemini API)
# the plan changes, at most MAX_WORKERS in all. Each scope has its own quota and limiter, and a lock write is waited
# for after every side effect, so eight workers kept one region busy but left four regions a quarter used. No scope
# takes more than its eight (`Turns`): a scope paused by a 429 holds its own workers, never the others'.
PER_SCOPE, MAX_WORKERS = 8, 32

HANDLERS: dict[str, Callable[[Context, Change], str]] = {
    "train": create.train, "retrain": create.train, "update": actions.update, "cancel": actions.cancel,
    "delete": actions.remove, "retire": actions.remove, "adopt": actions.adopt, "forget": actions.forget,
}


@dataclass(frozen=True)
class Outcome:
    name: str
    action: str
    status: Status
    detail: str


class Executor:
    def __init__(self, desired: DesiredState, observed: ObservedState, journal: Journal, clients: Any, *,
                 parallelism: int | None = None, wait_for_upstream: Callable[[str], Generation | None] | None = None,
                 stop: threading.Event | None = None, report: Callable[[str], None] = lambda line: None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 observed_at: float | None = None):
        waiter = None if wait_for_upstream is None else (  # a group waiting holds no place in its scope
            lambda name: self._waiting(lambda: wait_for_upstream(name)))
        self.context = Context(desired=desired.resources, observed=observed, journal=journal, clients=clients,
                               stop=stop or threading.Event(), wait_for_upstream=waiter, sleep=sleep,
                               clock=clock, observed_at=clock() if observed_at is None else observed_at,
                               identity=desired.config.identity, root=desired.config.root)
        self.parallelism = None if parallelism is None else max(1, parallelism)
        self.report = report
        self._turns: Turns | None = None  # the run's, while it runs
        self._group = threading.local()  # the group a worker runs (`name`)

    def run(self, plan: Plan) -> list[Outcome]:
        ctx = self.context
        # the last observed state, stored before changing anything: with the intents, or on its own
        ctx.journal.observe(ctx.observed.generations, store=False)
        create.declare(ctx, plan.changes)
        ctx.journal.flush()
        try:
            return self._run(plan)
        finally:
            create.withdraw_unattempted(ctx)

    def _run(self, plan: Plan) -> list[Outcome]:
        ctx = self.context
        groups: dict[str, list[Change]] = {}
        for change in plan.changes:
            if change.is_change:
                groups.setdefault(change.name, []).append(change)
        by_scope = self._by_scope(groups)
        order = self._interleaved(groups, by_scope)  # an upstream comes before its dependents
        futures: dict[str, Future] = {}
        upstreams: dict[str, Future | None] = {}
        for name in order:
            # Whatever the upstream does in this run (train, adopt, update) ends before a dependent trains
            # on it, even when the plan did not have to say `after` (its model was already there).
            desired = ctx.desired.get(name)
            depends_on = next((c.after for c in groups[name] if c.after), "") or (desired and desired.depends_on) or ""
            upstreams[name], futures[name] = futures.get(depends_on), Future()
        workers = self.workers(len(by_scope))
        scope_of = {name: scope for scope, names in by_scope.items() for name in names}
        turns = self._turns = Turns(order, scope_of, PER_SCOPE if self.parallelism is None else workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
            for _ in range(min(workers, len(order))):
                pool.submit(self._work, turns, groups, futures, upstreams)
            return [outcome for name in groups for outcome in futures[name].result()]

    def _work(self, turns: Turns, groups: dict[str, list[Change]], futures: dict[str, Future],
              upstreams: dict[str, Future | None]) -> None:
        """One worker: the groups `turns` hands it, until none is left; each group's outcomes (or the exception
        it raised) go to its future, where the dependents and the caller collect them."""
        while (name := turns.take()) is not None:
            self._group.name = name
            try:
                futures[name].set_result(self._run_group(groups[name], upstreams[name]))
            except BaseException as err:  # noqa: BLE001 - re-raised by whoever reads the future, as a pool does
                futures[name].set_exception(err)
            finally:
                self._group.name = None
                turns.done(name)

    def workers(self, scopes: int) -> int:
        """How many changes run at once when the plan changes manifests in `scopes` scopes."""
        return self.parallelism or max(1, min(MAX_WORKERS, PER_SCOPE * scopes))

    def _by_scope(self, groups: dict[str, list[Change]]) -> dict[tuple, list[str]]:
        """The groups' names by scope (platform, project, location), each scope's in plan order."""
        by_scope: dict[tuple, list[str]] = {}
        for name, changes in groups.items():
            found = self.context.desired.get(name) or self.context.journal.entry(name)  # a removal: as the lock says
            scope = (found.platform, found.project, found.location) if found else (changes[0].platform, None, None)
            by_scope.setdefault(scope, []).append(name)
        return by_scope

    def _interleaved(self, groups: dict[str, list[Change]], by_scope: dict[tuple, list[str]]) -> list[str]:
        """The groups in turn from each scope, each scope's in plan order: each region has its own quota and
        limiter, and plan order (by name) gave every worker the same region at once. A dependent is placed right
        after its upstream when it would come before it."""
        desired = self.context.desired
        turns = [name for row in zip_longest(*by_scope.values()) for name in row if name is not None]
        placed: list[str] = []
        done: set[str] = set()
        waiting: dict[str, list[str]] = {}
        for name in turns:
            wanted = desired.get(name)
            upstream = next((c.after for c in groups[name] if c.after), "") or (wanted and wanted.depends_on) or ""
            if upstream in groups and upstream not in done:
                waiting.setdefault(upstream, []).append(name)
                continue
            stack = [name]
            while stack:
                current = stack.pop()
                placed.append(current)
                done.add(current)
                stack.extend(reversed(waiting.pop(current, [])))
        return placed + [n for names in waiting.values() for n in names]

    def _run_group(self, changes: list[Change], upstream: Future | None) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for index, change in enumerate(changes):
            if self.context.stop.is_set():
                outcomes += [Outcome(c.name, c.action, "skipped", "interrupted before it started")
                             for c in changes[index:]]
                break
            if upstream is not None and change.action in ("train", "retrain"):
                self._waiting(upstream.result)
            try:
                if change.after and change.action not in ("train", "retrain"):
                    self._follow_up_ready(change)
                detail = HANDLERS[change.action](self.context, change)
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

    def _waiting(self, wait: Callable[[], Any]) -> Any:
        """`wait()`, during which the group this worker runs leaves its scope's place to others (`Turns`)."""
        name, turns = getattr(self._group, "name", None), self._turns
        if name is None or turns is None:
            return wait()
        with turns.waiting(name):
            return wait()

    def _follow_up_ready(self, change: Change) -> None:
        """A follow-up (the retire of the model a retrain supersedes) starts only once the retrain succeeded:
        at once, after waiting (--wait), or in a later apply (Deferred: the lock keeps it as reviewed)."""
        entry = self.context.journal.entry(change.after)
        self.context.succeeded(change.after, entry.current if entry else None,
                               waits=f"reviewed: waits for the retrained {change.after} to succeed")
