"""The planner's decision table (decisions.yaml): desired, observed, lock -> expected changes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconciler.desired import Config, DesiredResource, DesiredState, Policy
from reconciler.observed import Generation, ObservedState
from reconciler.plan import planner
from reconciler.plan.model import Plan
from reconciler.state.model import AppliedSpec, Intent, Lock, LockEntry

CASES = yaml.safe_load((Path(__file__).parent / "decisions.yaml").read_text())


def desired_state(table: dict) -> DesiredState:
    resources = {
        name: DesiredResource(
            name=name,
            platform=spec.get("platform", "vertex"),
            project=None if spec.get("platform") == "gemini-api" else "p",
            location=None if spec.get("platform") == "gemini-api" else "us-central1",
            digest=spec["digest"],
            immutable=spec.get("immutable", {}),
            mutable=spec.get("mutable", {}),
            policy=Policy(**spec.get("policy", {})),
            depends_on=spec.get("depends_on"),
            source=f"manifests/{name}.yaml:1",
        )
        for name, spec in (table or {}).items()
    }
    return DesiredState(resources=resources, config=Config(root=Path("manifests"), lock_path=Path("manifests/reconciler.lock")), warnings=())


def generation(row: dict) -> Generation:
    row = {"platform": "vertex", **row}
    row["endpoints"] = tuple(row.get("endpoints", ()))
    return Generation(**row)


def lock_of(table: dict, live: list[Generation], algorithm: str) -> Lock | None:
    if table is None:
        return None
    by_key = {g.key: g for g in live}

    def record(key: str, platform: str) -> Generation:
        gone = Generation(platform=platform, owner="", digest="", phase="succeeded",
                          job=key if platform == "vertex" else None, model=None if platform == "vertex" else key)
        return by_key.get(key, gone)

    entries = {}
    for name, e in table.items():
        platform = e.get("platform", "vertex")
        entries[name] = LockEntry(
            name=name, platform=platform, project=e.get("project", "p") if platform == "vertex" else None,
            location="us-central1" if platform == "vertex" else None, digest=e["digest"],
            spec=AppliedSpec(immutable=e.get("immutable", {}), mutable={}, policy=e.get("policy", {})),
            current=record(e["current"], platform) if e.get("current") else None,
            superseded=tuple(record(k, platform) for k in e.get("superseded", ())),
            pending=Intent(id=e["pending"], action="train", digest="", created_at="") if e.get("pending") else None,
            protect=e.get("protect", False),
        )
    return Lock(version=1, lineage="lineage-1", serial=7, digest_algorithm=algorithm, entries=entries)


def run(case: dict) -> Plan:
    live = [generation(g) for g in case.get("live", ())]
    options = case.get("options", {})
    lock = lock_of(case.get("lock", {} if "lock" in case else None), live,
                   "old" if options.get("algorithm_changed") else "current")
    return planner.plan(
        desired_state(case.get("desired")),
        ObservedState(generations=tuple(live)),
        lock,
        planner.Options(targets=frozenset(options.get("targets", ())), replace=frozenset(options.get("replace", ())),
                        digest_algorithm="current"),
    )


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_decision(case):
    plan = run(case)
    got = [(c.name, c.action) for c in plan.changes]
    assert got == [(e[0], e[1]) for e in case["expect"]], [c.reason for c in plan.changes]
    for change, expected in zip(plan.changes, case["expect"]):
        if len(expected) > 2:
            assert expected[2] in change.reason, change.reason
        assert change.reason, "every change, no-op included, carries a reason"
    last = {c.name: c for c in plan.changes}
    for name, text in case.get("reason_contains", {}).items():
        assert text in last[name].reason
    for name, text in case.get("attention", {}).items():
        assert text in last[name].attention
    for name, diffs in case.get("diffs", {}).items():
        changed = next(c for c in plan.changes if c.name == name and c.diffs)
        assert [[d.path, d.before, d.after] for d in changed.diffs] == diffs
    for name, targets in case.get("targets", {}).items():
        assert list(next(c for c in plan.changes if c.name == name and c.action != "noop").targets) == targets
    for name, after in case.get("after", {}).items():
        assert next(c for c in plan.changes if c.name == name and c.action != "noop").after == after


def test_every_action_of_the_vocabulary_is_covered_by_the_table():
    covered = {e[1] for case in CASES for e in case["expect"]}
    assert covered == {"train", "update", "retrain", "cancel", "delete", "retire", "adopt", "forget", "noop"}


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_plan_survives_a_json_round_trip(case):
    plan = run(case)
    assert Plan.from_json(plan.to_json()) == plan


def test_planning_is_deterministic_and_pure():
    case = next(c for c in CASES if c["case"].startswith("a removed manifest deletes superseded"))
    assert run(case) == run(case)
