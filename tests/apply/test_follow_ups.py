"""`follow_ups.record`: what the state keeps of reviewed follow-ups after a run, as a table of decisions."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.apply.executor import Outcome
from reconciler.apply.follow_ups import record
from reconciler.plan.model import Change, Plan
from reconciler.state.model import APPLIED_PLANS, Authorization, Lock

TRAIN_DEP = Change("dep", "train", "then: once up succeeds", "vertex", digest="d-dep", after="up")
RETIRE = Change("bot", "retire", "then: once the retrain succeeds", "vertex", targets=("j1",), after="bot")
OTHER = Change("other", "update", "mutable fields differ", "vertex", digest="d-other")
KEPT = Authorization("p0", "dep", "train", "d-dep")


def lock(*authorized: Authorization, applied: tuple[str, ...] = ()) -> Lock:
    return dataclasses.replace(Lock.empty("sha256/v1"), authorized=authorized, applied_plans=applied)


def outcome(change: Change, status: str) -> Outcome:
    return Outcome(change.name, change.action, status, "")


# (case, authorized before, carried changes, fresh changes, outcomes, authorized after)
CASES = [
    ("a deferred follow-up is authorized under the reviewed plan", (), [TRAIN_DEP], [TRAIN_DEP],
     [outcome(TRAIN_DEP, "deferred")], [("p1", "dep", "train")]),
    ("a deferred change that is no follow-up is not authorized", (), [OTHER], [OTHER],
     [outcome(OTHER, "deferred")], []),
    ("a follow-up carried out is dropped", (KEPT,), [TRAIN_DEP], [TRAIN_DEP], [outcome(TRAIN_DEP, "done")], []),
    ("a follow-up deferred again keeps its first plan", (KEPT,), [dataclasses.replace(TRAIN_DEP, reviewed_in="p0")],
     [TRAIN_DEP], [outcome(TRAIN_DEP, "deferred")], [("p0", "dep", "train")]),
    ("a follow-up the manifests no longer ask for lapses", (KEPT,), [], [dataclasses.replace(TRAIN_DEP, digest="d2")],
     [], []),
    ("a follow-up of a name this run did not plan is kept", (KEPT,), [OTHER], [OTHER], [outcome(OTHER, "done")],
     [("p0", "dep", "train")]),
    ("a retire is authorized with its target", (), [RETIRE], [RETIRE], [outcome(RETIRE, "deferred")],
     [("p1", "bot", "retire")]),
]


@pytest.mark.parametrize("case, before, carried, fresh, outcomes, after", CASES, ids=[c[0] for c in CASES])
def test_what_the_state_keeps_of_reviewed_follow_ups(case, before, carried, fresh, outcomes, after):
    kept = record(lock(*before), Plan(tuple(carried)), Plan(tuple(fresh)), outcomes, "p1", applied=False)
    assert [(a.plan, a.name, a.action) for a in kept.authorized] == after
    assert kept.applied_plans == ()


def test_a_saved_plan_is_remembered_as_applied_once_and_only_the_last_ones_are_kept():
    many = tuple(f"p{i}" for i in range(APPLIED_PLANS))
    kept = record(lock(applied=many), Plan(()), Plan(()), [], "new", applied=True)
    assert kept.applied_plans == (*many[1:], "new")
    assert record(kept, Plan(()), Plan(()), [], "new", applied=True).applied_plans == kept.applied_plans


def test_a_retire_authorization_matches_only_its_target():
    retire = Authorization("p1", "bot", "retire", "", ("j1",))
    assert retire.matches("bot", "retire", "", ("j1",))
    assert not retire.matches("bot", "retire", "", ("j2",))
    assert not KEPT.matches("dep", "train", "d-other", ())
