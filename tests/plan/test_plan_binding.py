"""A saved plan is bound to content and never trusted: `planfile.verify(saved, fresh, lock)` as a table of
what moved between `plan --out` and `apply FILE`, and what apply then does (or refuses, saying why)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest

from reconciler.errors import StalePlanError
from reconciler.observed import Generation, ObservedState
from reconciler.plan import binding, planfile, planner
from reconciler.plan.model import Plan
from reconciler.render import as_json
from reconciler.state.model import Authorization, Lock
from tests.plan.test_decisions import desired_state, generation, lock_of

OPTIONS = planner.Options(digest_algorithm="current")

# Two manifests: `a` (in sync) and `b` (a new manifest to train), plus `c`, in sync, unrelated.
DESIRED = {"a": {"digest": "da"}, "b": {"digest": "db"}, "c": {"digest": "dc"}}
LIVE = [{"owner": "a", "digest": "da", "phase": "succeeded", "job": "ja", "model": "ma@1"},
        {"owner": "c", "digest": "dc", "phase": "succeeded", "job": "jc", "model": "mc@1"}]
LOCK = {"a": {"digest": "da", "current": "ja"}, "c": {"digest": "dc", "current": "jc"}}


def world(desired=DESIRED, live=LIVE, lock=LOCK, serial=7) -> tuple:
    generations = [generation(g) for g in live]
    state = dataclasses.replace(lock_of(lock, generations, "current"), serial=serial)
    return desired_state(desired), ObservedState(generations=tuple(generations)), state


def plan_of(desired=DESIRED, live=LIVE, lock=LOCK, serial=7) -> tuple[Plan, Lock]:
    d, o, state = world(desired, live, lock, serial)
    return planner.plan(d, o, state, OPTIONS), state


def verify(saved: Plan, desired, observed, lock) -> Plan:
    fresh = planner.plan(desired, observed, lock, OPTIONS)
    return planfile.verify(saved, fresh, lock, binding.inputs(saved.inputs, desired, lock, observed))


def round_trip(plan: Plan) -> Plan:
    return Plan.from_json(json.loads(as_json(plan)))


def acted(plan: Plan) -> list[tuple[str, str]]:
    return [(c.name, c.action) for c in plan.changes if c.is_change]


SAVED, SAVED_LOCK = plan_of()

# (case, what happens between plan and apply: kwargs of the world at apply time, changes carried out | error text)
CASES: list[tuple[str, dict, list | str]] = [
    ("nothing moved: exactly the reviewed change", {}, [("b", "train")]),
    ("an unrelated manifest changed and was applied (another PR): still valid",
     {"desired": {**DESIRED, "c": {"digest": "dc2"}},
      "live": [LIVE[0], {**LIVE[1], "digest": "dc2", "job": "jc2", "model": "mc2@1"}],
      "lock": {**LOCK, "c": {"digest": "dc2", "current": "jc2"}}, "serial": 9}, [("b", "train")]),
    ("an unrelated manifest changed and is not applied: left alone, never carried out",
     {"desired": {**DESIRED, "c": {"digest": "dc2"}}}, [("b", "train")]),
    ("the manifest it acts on changed", {"desired": {**DESIRED, "b": {"digest": "db2"}}},
     "b: its manifest changed"),
    ("the state entry it acts on changed (another apply trained it)",
     {"lock": {**LOCK, "b": {"digest": "db", "current": "jb"}},
      "live": [*LIVE, {"owner": "b", "digest": "db", "phase": "running", "job": "jb"}], "serial": 8},
     "b: its state entry changed"),
    ("other state at the same lineage and serial (another branch's lock)",
     {"lock": {**LOCK, "b": {"digest": "db", "current": "jb"}}},
     "made against other state"),
    ("live resources of it appeared out of band",
     {"live": [*LIVE, {"owner": "b", "digest": "db", "phase": "running", "job": "jb"}]},
     "b: its live resources changed"),
]


@pytest.mark.parametrize("case, moved, expected", CASES, ids=[c[0] for c in CASES])
def test_what_moved_decides_what_a_saved_plan_may_do(case, moved, expected):
    desired, observed, lock = world(**moved)
    if isinstance(expected, str):
        with pytest.raises(StalePlanError, match=expected) as refused:
            verify(round_trip(SAVED), desired, observed, lock)
        assert "nothing was done" in str(refused.value)
    else:
        assert acted(verify(round_trip(SAVED), desired, observed, lock)) == expected


def _noop_to_retrain(data: dict) -> None:
    row = next(c for c in data["changes"] if c["name"] == "a")
    row.update(action="retrain", symbol="-/+", costly=True)


def test_an_edited_saved_plan_is_refused_as_altered_before_anything_runs(tmp_path):
    path = tmp_path / "plan.json"
    data = json.loads(as_json(SAVED))
    _noop_to_retrain(data)
    path.write_text(json.dumps(data))
    with pytest.raises(StalePlanError, match="edited after `reconciler plan` wrote it"):
        planfile.load(str(path))


def test_an_edit_with_a_consistent_id_is_still_refused_by_planning_again():
    """A careful forger writes a plan whose id matches its content: planning again from the same inputs
    disagrees with it, and that is what refuses it (the file's actions are never taken on its authority)."""
    forged = dataclasses.replace(SAVED, changes=tuple(
        dataclasses.replace(c, action="retrain") if c.name == "a" else c for c in SAVED.changes))
    assert round_trip(forged) == forged  # its id is consistent
    desired, observed, lock = world()
    with pytest.raises(StalePlanError, match="altered.*records nothing it was made from"):
        verify(forged, desired, observed, lock)
    true_inputs = binding.inputs(["a"], desired, lock, observed)  # even with a's real inputs
    rebound = dataclasses.replace(forged, inputs={**forged.inputs, **true_inputs})
    with pytest.raises(StalePlanError, match="altered"):
        verify(rebound, desired, observed, lock)


def test_a_plan_applied_before_only_finishes_its_reviewed_follow_ups():
    desired, observed, lock = world()
    lock = dataclasses.replace(lock, applied_plans=(SAVED.id,))
    assert acted(verify(SAVED, desired, observed, lock)) == []
    authorized = dataclasses.replace(lock, authorized=(Authorization(SAVED.id, "b", "train", "db"),))
    assert [(c.name, c.action, c.reviewed_in) for c in verify(SAVED, desired, observed, authorized).changes] == \
        [("b", "train", SAVED.id)]


def test_a_plan_of_another_lineage_is_refused_as_other_state():
    desired, observed, lock = world()
    other = dataclasses.replace(lock, lineage="lineage-2")
    with pytest.raises(StalePlanError, match="made against other state"):
        verify(SAVED, desired, observed, other)


def test_the_plan_records_relative_inputs_only_for_what_it_acts_on_and_their_upstreams():
    desired = {**DESIRED, "d": {"digest": "dd", "depends_on": "a"}}
    plan, _ = plan_of(desired=desired)
    assert sorted(plan.inputs) == ["a", "b", "d"]  # c (in sync, unrelated) binds nothing
    assert set(plan.inputs["b"]) == {"manifest", "state", "live"}
