"""A scope paused by its quota (a 429's Retry-After holds back every call into it) holds only its own workers:
the other scopes carry on. Workers take groups in the executor's order, skipping scopes that have their eight."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from reconciler.apply import executor as executor_module
from reconciler.apply.executor import PER_SCOPE, Executor
from reconciler.apply.turns import Turns
from reconciler.desired import Config, DesiredState
from reconciler.observed import ObservedState
from reconciler.plan.model import Change, Plan
from reconciler.state.journal import Journal
from reconciler.state.local import LocalBackend
from reconciler.state.model import Lock
from tests.apply.test_executor_order import resource


def test_turns_follow_the_order_and_skip_full_scopes():
    order = ["a1", "b1", "a2", "b2", "a3", "a4", "b3"]
    turns = Turns(order, {n: n[0] for n in order}, per_scope=2)
    assert [turns.take() for _ in range(4)] == ["a1", "b1", "a2", "b2"]
    taken: list[str | None] = []
    waiting = threading.Thread(target=lambda: taken.append(turns.take()))
    waiting.start()
    waiting.join(0.2)
    assert waiting.is_alive()  # a3 is next, b3 after it: both scopes are full
    turns.done("b1")
    waiting.join(5)
    assert taken == ["b3"]  # a3 comes first in the order, but its scope is still full
    turns.done("a1")
    assert turns.take() == "a3"
    turns.done("a2")
    assert turns.take() == "a4"
    for name in ("b2", "b3", "a3", "a4"):
        turns.done(name)
    assert turns.take() is None


def test_nothing_to_take_ends_at_once():
    assert Turns([], {}, per_scope=8).take() is None


def test_a_paused_scope_holds_only_its_own_workers(tmp_path: Path, monkeypatch):
    """Region r1 hangs (its quota paused); r2's 40 groups all finish meanwhile. (Taking groups in turn from one
    queue, every worker ended up waiting on r1 after a few turns, and r2 stopped too.)"""
    names = {f"a{i:02d}": "r1" for i in range(40)} | {f"b{i:02d}": "r2" for i in range(40)}
    resources = {name: resource(name, location) for name, location in names.items()}
    desired = DesiredState(resources=resources, config=Config.default(tmp_path))
    plan = Plan(changes=tuple(Change(name=n, action="update", reason="r", platform="vertex") for n in sorted(names)))
    paused, finished = threading.Event(), []

    def update(ctx, change):
        if names[change.name] == "r1":
            assert paused.wait(10), "the test never resumed r1"
        else:
            time.sleep(0.002)
        finished.append(change.name)
        return "done"
    monkeypatch.setitem(executor_module.HANDLERS, "update", update)
    others, outcomes, worker, run = _run_until(desired, plan, tmp_path,
                                               lambda: sum(n.startswith("b") for n in finished), 40, paused)
    assert not worker.is_alive() and len(outcomes) == 80 and {o.status for o in outcomes} == {"done"}
    assert others == 40 and run.workers(2) == 2 * PER_SCOPE


def test_a_group_waiting_for_another_leaves_its_place_and_gets_the_next_one_back():
    order = ["a1", "a2", "a3"]
    turns = Turns(order, dict.fromkeys(order, "r1"), per_scope=1)
    assert turns.take() == "a1"
    resumed = threading.Event()
    release = threading.Event()

    def dependent() -> None:
        with turns.waiting("a1"):
            assert release.wait(5)
        resumed.set()
    waiter = threading.Thread(target=dependent)
    waiter.start()
    assert turns.take() == "a2"  # a1 waits: its place is a2's meanwhile
    release.set()
    time.sleep(0.1)
    assert not resumed.is_set()  # a1's wait ended, but a2 has the scope's one place
    taken: list[str | None] = []
    third = threading.Thread(target=lambda: taken.append(turns.take()))
    third.start()
    turns.done("a2")
    waiter.join(5)
    assert resumed.is_set()  # a1 comes back before a3 starts
    time.sleep(0.1)
    assert taken == [] and third.is_alive()
    turns.done("a1")
    third.join(5)
    assert taken == ["a3"]
    turns.done("a3")
    assert turns.take() is None


def test_dependents_waiting_for_their_upstream_hold_no_place_in_their_scope(tmp_path: Path, monkeypatch):
    """Eight dependents in r1 wait for an upstream in r2 that waits for a signal; r1's independent groups run
    meanwhile (a scope full of waiting dependents would otherwise hold them back until the upstream is done)."""
    names = {"up": ("r2", None)} | {f"dep{i}": ("r1", "up") for i in range(8)} | {f"free{i}": ("r1", None)
                                                                               for i in range(4)}
    resources = {name: resource(name, location, upstream) for name, (location, upstream) in names.items()}
    desired = DesiredState(resources=resources, config=Config.default(tmp_path))
    plan = Plan(changes=tuple(Change(name=n, action="train", reason="r", platform="vertex") for n in names))
    go, finished = threading.Event(), []

    def train(ctx, change):
        if change.name == "up":
            assert go.wait(10), "the test never let the upstream finish"
        finished.append(change.name)
        return "done"
    monkeypatch.setitem(executor_module.HANDLERS, "train", train)
    monkeypatch.setattr(executor_module.create, "declare", lambda ctx, changes: None)
    _, outcomes, worker, _ = _run_until(desired, plan, tmp_path,
                                        lambda: sum(n.startswith("free") for n in finished), 4, go)
    free = sorted(n for n in finished if n.startswith("free"))
    assert free == [f"free{i}" for i in range(4)]
    assert not worker.is_alive() and {o.status for o in outcomes} == {"done"} and len(outcomes) == len(names)
    assert finished.index("up") < min(finished.index(f"dep{i}") for i in range(8))


def _run_until(desired, plan, tmp_path, count, enough: int,
               release: threading.Event) -> tuple[int, list, threading.Thread, Executor]:
    """Run `plan` in a thread until `count()` reaches `enough` (5 s at most), then set `release` and let it finish:
    (the count when released, the outcomes, the worker thread, the executor)."""
    with Journal(LocalBackend(tmp_path / "reconciler.lock"), Lock.empty("sha256/v1")) as journal:
        run = Executor(desired, ObservedState(), journal, clients={})
        outcomes: list = []
        worker = threading.Thread(target=lambda: outcomes.extend(run.run(plan)))
        worker.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and count() < enough:
            time.sleep(0.01)
        reached = count()
        release.set()
        worker.join(20)
    return reached, outcomes, worker, run
