"""Scenario 1 (kill -9 at every mutating request) and Ctrl-C during a multi-resource apply.

A reference run counts the mutating requests (POST/PATCH/DELETE) of two applies: one that trains five
manifests (three Vertex, one of them tuned on top of another with `fromManifest`, two Gemini API), and one
that deletes a Vertex model with checkpoint endpoints (undeploy -> delete endpoint, twice -> delete model),
deletes a Gemini API model and patches one model on each platform. Then, for every index k, the same apply
runs from the same starting state and the reconciler is SIGKILLed the moment the emulator has committed
its k-th mutating request (before the answer leaves), or, for the creates, the moment that request arrives
(the intent is in the lock, the create never happened). A rerun (`apply --yes --wait`) must converge:
0 duplicate jobs, 0 orphans, a valid lock, and a final plan with no changes.
"""

from __future__ import annotations

import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from reliability_harness import InProcessEmulator, Repo, census, mutations
from tests.testing.manifests import gemini_manifest, vertex_manifest

ALL_JOBS = {"vx-a": 1, "vx-b": 1, "vx-c": 1, "gm-d": 1, "gm-e": 1}
JOB_SECONDS = 0.5  # virtual seconds from create to success (the emulator clock runs at wall speed)
CREATES = 5   # 2 Gemini API creates, 2 Vertex creates, then vx-c once vx-a has succeeded
CHANGES = 8   # PATCH gm-d, DELETE gm-e, PATCH vx-a model, vx-b: 2 x (undeploy, delete endpoint), delete model


def write_creates(repo: Repo) -> None:
    repo.write("vx-a", vertex_manifest("vx-a"))
    repo.write("vx-b", vertex_manifest("vx-b"))
    repo.write("vx-c", vertex_manifest("vx-c", from_manifest="vx-a", checkpoints=False))
    repo.write("gm-d", gemini_manifest("gm-d"))
    repo.write("gm-e", gemini_manifest("gm-e"))


def write_changes(repo: Repo) -> None:
    repo.remove("vx-b")
    repo.remove("gm-e")
    repo.write("vx-a", vertex_manifest("vx-a", description="patched in place"))
    repo.write("gm-d", gemini_manifest("gm-d", display="gm-d renamed"))


@dataclass(frozen=True)
class Reference:
    creates: list[str]
    changes: list[str]
    trained: Path  # manifests + lock after the creates converged
    state: Path  # the emulator's state file at that moment


@pytest.fixture(scope="session")
def reference(tmp_path_factory) -> Reference:
    root = tmp_path_factory.mktemp("reference")
    emulator = InProcessEmulator(job_duration=JOB_SECONDS, state_file=root / "state.json")
    try:
        repo = Repo(root / "repo", emulator)
        write_creates(repo)
        result = repo.apply("--wait", "--parallelism", "1")
        assert result.code == 0, str(result)
        repo.assert_converged()
        creates = mutations(emulator.requests())
        repo.snapshot(root / "trained")
        shutil.copy2(root / "state.json", root / "trained-state.json")
        emulator.admin("DELETE", "requests")
        write_changes(repo)
        result = repo.apply("--wait", "--parallelism", "1")
        assert result.code == 0, str(result)
        repo.assert_converged()
        changes = mutations(emulator.requests())
    finally:
        emulator.stop()
    print("\nreference creates:", *creates, sep="\n  ")
    print("reference changes:", *changes, sep="\n  ")
    assert len(creates) == CREATES and len(changes) == CHANGES, (creates, changes)
    return Reference(creates, changes, root / "trained", root / "trained-state.json")


KILL_POINTS = ([("create", k, "after-commit") for k in range(1, CREATES + 1)]
               + [("create", k, "before-commit") for k in (1, CREATES)]
               + [("change", k, "after-commit") for k in range(1, CHANGES + 1)])


@pytest.mark.parametrize("phase,k,when", KILL_POINTS, ids=[f"{p}-{k}-{w}" for p, k, w in KILL_POINTS])
def test_kill_9_at_every_mutating_request_then_rerun_converges(reference, tmp_path, phase, k, when):
    state = tmp_path / "state.json"
    if phase == "change":
        shutil.copy2(reference.state, state)
    emulator = InProcessEmulator(job_duration=JOB_SECONDS, state_file=state)
    try:
        repo = Repo(tmp_path / "repo", emulator)
        if phase == "create":
            write_creates(repo)
            baseline, expected = None, reference.creates[k - 1]
        else:
            repo.restore(reference.trained)
            write_changes(repo)
            baseline, expected = {"gm-d": 1, "gm-e": 1}, reference.changes[k - 1]

        trip = emulator.arm(k, signal.SIGKILL, before=(when == "before-commit"))
        process = repo.start("apply", "m", "--yes", "--wait", "--parallelism", "1")
        trip.process = process
        killed = repo.finish(process, ("apply", "--wait"))
        assert trip.fired is not None, f"never reached mutating request {k}\n{killed}"
        assert killed.code == -signal.SIGKILL, str(killed)
        assert mutations([trip.fired]) == [expected], "the run diverged from the reference"
        after_kill = census(emulator, repo, baseline)
        print(f"\nkill -9 at {phase} #{k} {when} ({expected}):")
        print(after_kill.line("after kill"))
        assert after_kill.lock_valid, after_kill.lock_error
        assert not after_kill.duplicates

        rerun = repo.apply("--wait")
        assert rerun.code == 0, str(rerun)
        repo.assert_converged()
        census(emulator, repo, baseline).check("after rerun", expect_jobs=ALL_JOBS)
        assert_lock_knows_every_model(repo)
    finally:
        emulator.stop()


def assert_lock_knows_every_model(repo: Repo) -> None:
    """After `apply --wait` the lock records what each job made: phase, model@version, endpoints."""
    for name, entry in repo.read_lock().entries.items():
        assert entry.pending is None, f"{name}: intent left pending"
        current = entry.current
        assert current is not None and current.phase == "succeeded" and current.model, (name, current)
        if current.platform == "vertex":
            assert current.endpoints, (name, current)


def test_ctrl_c_during_a_multi_resource_apply_exits_130_and_a_rerun_converges(tmp_path):
    emulator = InProcessEmulator(job_duration=JOB_SECONDS)
    try:
        repo = Repo(tmp_path / "repo", emulator)
        write_creates(repo)
        trip = emulator.arm(2, signal.SIGINT)  # the second create is committed; its answer is on its way
        process = repo.start("apply", "m", "--yes", "--wait")
        trip.process = process
        interrupted = repo.finish(process, ("apply", "--wait"))
        assert interrupted.code == 130, str(interrupted)
        after = census(emulator, repo)
        print("\nCtrl-C at the 2nd create:")
        print(after.line("after Ctrl-C"))
        assert after.lock_valid and not after.duplicates
        lock = repo.read_lock()
        recorded = {n for n, e in lock.entries.items() if e.current is not None}
        # exactly the manifests whose create the emulator committed (the 2nd, and any other already in flight)
        assert len(recorded) >= 2 and recorded == set(after.jobs), \
            f"the committed creates must be recorded before exiting: {recorded} != {after.jobs}"
        assert set(after.jobs.values()) == {1}, after.jobs

        rerun = repo.apply("--wait")
        assert rerun.code == 0, str(rerun)
        repo.assert_converged()
        census(emulator, repo).check("after rerun", expect_jobs=ALL_JOBS)
    finally:
        emulator.stop()
