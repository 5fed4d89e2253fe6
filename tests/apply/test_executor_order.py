"""The order the executor hands groups to its workers: in turn from each scope (each region has its own quota and
limiter, and plan order by name kept every worker on one region), with every dependent after its upstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.apply.executor import Executor
from reconciler.desired import Config, DesiredResource, DesiredState, Policy
from reconciler.observed import ObservedState
from reconciler.plan.model import Change
from reconciler.state.journal import Journal
from reconciler.state.local import LocalBackend
from reconciler.state.model import Lock


def resource(name: str, location: str, depends_on: str | None = None) -> DesiredResource:
    return DesiredResource(name=name, platform="vertex", project="p", location=location, digest="d" * 64,
                           immutable={}, mutable={}, policy=Policy(), depends_on=depends_on, source=f"{name}.yaml:1")


@pytest.mark.parametrize("wanted, order", [
    # name -> (location, upstream): the order of submission
    ({"a1": ("r1", None), "a2": ("r1", None), "b1": ("r2", None), "b2": ("r2", None)}, ["a1", "b1", "a2", "b2"]),
    ({"a1": ("r1", None), "a2": ("r1", None), "a3": ("r1", None), "b1": ("r2", None)}, ["a1", "b1", "a2", "a3"]),
    # b1 comes up first in turn but trains on a2: it waits for a2, then goes right after it
    ({"a1": ("r1", None), "a2": ("r1", None), "b1": ("r2", "a2")}, ["a1", "a2", "b1"]),
    # an upstream with nothing to do (not in the plan) holds nobody back
    ({"a1": ("r1", None), "b1": ("r2", "zz")}, ["a1", "b1"]),
    # a chain across regions keeps its order
    ({"a1": ("r1", "b1"), "b1": ("r2", "c1"), "c1": ("r3", None)}, ["c1", "b1", "a1"]),
])
def test_groups_go_out_in_turn_from_each_region_and_after_their_upstream(tmp_path: Path, wanted, order):
    resources = {name: resource(name, location, upstream) for name, (location, upstream) in wanted.items()}
    desired = DesiredState(resources=resources, config=Config.default(tmp_path))
    groups = {name: [Change(name=name, action="train", reason="r", platform="vertex")] for name in wanted}
    with Journal(LocalBackend(tmp_path / "reconciler.lock"), Lock.empty("sha256/v1")) as journal:
        executor = Executor(desired, ObservedState(), journal, clients={})
        placed = executor._interleaved(groups, executor._by_scope(groups))
    assert placed == order
    assert sorted(placed) == sorted(wanted)


@pytest.mark.parametrize("parallelism, scopes, workers", [
    (None, 1, 8),    # one region: 8 at once, as before
    (None, 4, 32),   # four regions, four quotas: each kept as busy as one was
    (None, 9, 32),   # at most 32 without asking
    (None, 0, 1),
    (3, 4, 3),       # --parallelism is the total, whatever the scopes
    (64, 1, 64),
])
def test_without_parallelism_each_scope_gets_eight_workers(tmp_path: Path, parallelism, scopes, workers):
    desired = DesiredState(resources={}, config=Config.default(tmp_path))
    with Journal(LocalBackend(tmp_path / "reconciler.lock"), Lock.empty("sha256/v1")) as journal:
        assert Executor(desired, ObservedState(), journal, clients={}, parallelism=parallelism).workers(scopes) == workers
