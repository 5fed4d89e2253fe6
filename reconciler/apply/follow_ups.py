"""Reviewed follow-ups: what a plan showed as `then:` and its apply could not finish yet (a dependent's train
waiting for its upstream; the retire of a model a retrain supersedes, waiting for the retrain to succeed).

The lock remembers them as authorizations, with the id of the plan that showed them. A later plan marks the same
change "reviewed in plan X"; a later apply (with a plan of its own, with --reviewed-only, or plain) carries it out
while it is still exactly that change. Pure: a new Lock from the old one and what the run did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from reconciler.plan.model import Change, Plan
from reconciler.state.model import APPLIED_PLANS, Authorization, Lock


def record(lock: Lock, carried: Plan, fresh: Plan, outcomes: Iterable, reviewed_id: str, *, applied: bool) -> Lock:
    """The lock after a run: follow-ups it deferred authorized under `reviewed_id`, those it carried out (or that
    are no longer what the manifests ask for) dropped, and a saved plan remembered as applied."""
    outcomes = list(outcomes)
    done = {(o.name, o.action) for o in outcomes if o.status == "done"}
    deferred = {(o.name, o.action) for o in outcomes if o.status == "deferred"}
    planned = {c.name for c in fresh.changes}
    kept = [a for a in lock.authorized
            if (a.name, a.action) not in done
            and (a.name not in planned or any(_authorizes(a, c) for c in fresh.changes))]
    for change in carried.changes:
        if (change.name, change.action) in deferred and _is_follow_up(change):
            plan_id = change.reviewed_in or reviewed_id
            if not any(_authorizes(a, change) for a in kept):
                kept.append(Authorization(plan=plan_id, name=change.name, action=change.action,
                                          digest=change.digest, targets=change.targets))
    applied_plans = lock.applied_plans
    if applied and reviewed_id not in applied_plans:
        applied_plans = (*applied_plans, reviewed_id)[-APPLIED_PLANS:]
    return replace(lock, authorized=tuple(kept), applied_plans=applied_plans)


def _is_follow_up(change: Change) -> bool:
    """Shown as `then:`: it waits for another change (a train on its upstream, a retire on its retrain)."""
    return bool(change.after) or bool(change.reviewed_in)


def _authorizes(authorization: Authorization, change: Change) -> bool:
    return change.is_change and authorization.matches(change.name, change.action, change.digest, change.targets)
