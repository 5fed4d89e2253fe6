"""The planner's decision table (decisions/*.yaml, one file per action family): desired, observed, lock ->
expected changes, every one of them checked in order (action, reason, targets)."""

from __future__ import annotations

import builtins
import copy
import dataclasses
import io
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.desired import Config, DesiredResource, DesiredState, Policy
from reconciler.observed import DataVersion, Generation, ObservedState
from reconciler.plan import planner
from reconciler.plan.model import Change, Plan
from reconciler.plan.situation import Situation
from reconciler.state.model import AppliedSpec, Intent, Lock, LockEntry

TABLE = Path(__file__).parent / "decisions"
CASE_KEYS = {"case", "desired", "live", "lock", "options", "expect", "attention", "diffs", "after", "data"}


def load_cases() -> list[dict[str, Any]]:
    """Every case of every file, in file order; `file` is the file's stem (the family)."""
    cases = []
    for path in sorted(TABLE.glob("*.yaml")):
        family = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert family, f"{path.name} holds no case"
        cases += [{**case, "file": path.stem} for case in family]
    return cases


CASES = load_cases()
IDS = [f"{c['file']}: {c['case']}" for c in CASES]


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
            spec=AppliedSpec(immutable=e.get("immutable", {}), mutable=e.get("mutable", {}), policy=e.get("policy", {}),
                             managed_labels=tuple(e["managedLabels"]) if "managedLabels" in e else None),
            current=record(e["current"], platform) if e.get("current") else None,
            superseded=tuple(record(k, platform) for k in e.get("superseded", ())),
            pending=Intent(id=e["pending"], action="train", digest="", created_at="") if e.get("pending") else None,
            protect=e.get("protect", False),
            trained_on=tuple(DataVersion(**v) for v in e.get("trainedOn", ())),
        )
    return Lock(version=1, lineage="lineage-1", serial=7, digest_algorithm=algorithm, entries=entries)


def inputs(case: dict) -> tuple[DesiredState, ObservedState, Lock | None, planner.Options]:
    live = [generation(g) for g in case.get("live", ())]
    options = case.get("options", {})
    lock = lock_of(case.get("lock", {} if "lock" in case else None), live,
                   "old" if options.get("algorithm_changed") else "current")
    data = {uri: DataVersion(uri, **v) for uri, v in case.get("data", {}).items()}
    return (desired_state(case.get("desired")), ObservedState(generations=tuple(live), data=data), lock,
            planner.Options(targets=frozenset(options.get("targets", ())),
                            replace=frozenset(options.get("replace", ())), digest_algorithm="current"))


def run(case: dict) -> Plan:
    return planner.plan(*inputs(case))


def expected_changes(case: dict) -> list[tuple[str, str, list[str] | None, list[str]]]:
    """The expect rows as (name, action, reason texts or None, targets)."""
    rows = []
    for row in case["expect"]:
        assert 2 <= len(row) <= 4, f"a row is [name, action, reason, [targets]]: {row}"
        name, action, reason, targets = [*row, None, None][:4]
        reasons = None if reason is None else [reason] if isinstance(reason, str) else list(reason)
        rows.append((name, action, reasons, list(targets or [])))
    return rows


def test_the_table_is_well_formed():
    assert len(set(IDS)) == len(IDS) == len(CASES), "case names are unique"
    assert not (TABLE.parent / "decisions.yaml").exists(), "the table lives in decisions/, one file per family"
    for case in CASES:
        assert set(case) - {"file"} <= CASE_KEYS, (case["case"], set(case) - CASE_KEYS - {"file"})
        names = [row[0] for row in expected_changes(case)]
        for key in ("attention", "diffs", "after"):
            for name in case.get(key, {}):
                assert name in names, f"{case['case']}: {key} of {name}, which has no change"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_decision(case):
    plan = run(case)
    expected = expected_changes(case)
    assert [(c.name, c.action) for c in plan.changes] == [(e[0], e[1]) for e in expected], \
        [f"{c.name} {c.action}: {c.reason}" for c in plan.changes]
    for index, (change, (name, action, reasons, targets)) in enumerate(zip(plan.changes, expected)):
        where = f"change {index + 1} ({name} {action})"
        assert change.reason, f"{where}: every change, no-op included, carries a reason"
        for text in reasons or ():
            assert text in change.reason, f"{where}: {text!r} not in {change.reason!r}"
        assert list(change.targets) == targets, f"{where}: targets"
    by_name = {}  # attention, diffs and after are those of a name's first change (a follow-up comes later)
    for c in plan.changes:
        by_name.setdefault(c.name, c)
    for name, text in case.get("attention", {}).items():
        assert text in by_name[name].attention, by_name[name].attention
    for name, diffs in case.get("diffs", {}).items():
        assert [[d.path, d.before, d.after] for d in by_name[name].diffs] == diffs
    for name, after in case.get("after", {}).items():
        assert by_name[name].after == after


def test_every_action_of_the_vocabulary_is_covered_by_the_table():
    covered = {e[1] for case in CASES for e in case["expect"]}
    assert covered == {"train", "update", "retrain", "cancel", "delete", "retire", "adopt", "forget", "noop"}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_plan_survives_a_json_round_trip(case):
    plan = run(case)
    assert Plan.from_json(plan.to_json()) == plan


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_every_change_and_situation_holds_exactly_its_fields(case, monkeypatch):
    """No-ops and situations are made without their __init__ (frozen.made): each must hold every field of its
    class, and nothing else (a cached property aside)."""
    situations, decide = [], planner._decide
    monkeypatch.setattr(planner, "_decide", lambda s: situations.append(s) or decide(s))
    changes = run(case).changes
    assert situations, "the planner decided nothing"

    def wrong(value, cls, cached=frozenset()):
        return sorted((set(vars(value)) - cached) ^ {f.name for f in dataclasses.fields(cls)})
    assert {c.name: wrong(c, Change) for c in changes if wrong(c, Change)} == {}
    assert {s.name: wrong(s, Situation, {"current"}) for s in situations if wrong(s, Situation, {"current"})} == {}


def _refuse(what: str):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"planning must not {what} (called with {args[:2]!r})")

    return refuse


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_planning_is_deterministic_and_pure(case, monkeypatch):
    """Same inputs, same plan; the inputs are left as they were; no network, no file system."""
    desired, observed, lock, options = inputs(case)
    before = copy.deepcopy((desired, observed, lock, options))
    first = planner.plan(desired, observed, lock, options)
    with monkeypatch.context() as guard:
        for target, name in ((socket.socket, "connect"), (socket.socket, "connect_ex"), (socket, "create_connection"),
                             (socket, "getaddrinfo")):
            guard.setattr(target, name, _refuse("use the network"))
        for target, name in ((builtins, "open"), (io, "open"), (os, "open"), (os, "stat"), (os, "listdir"),
                             (os, "scandir")):
            guard.setattr(target, name, _refuse("touch the file system"))
        second = planner.plan(desired, observed, lock, options)
    assert (desired, observed, lock, options) == before, "planning changed its inputs"
    assert second == first
    assert planner.plan(*inputs(case)) == first                # and fresh, equal inputs give the same plan
