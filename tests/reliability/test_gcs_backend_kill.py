"""kill -9 at each kind of mutating request with the gcs state backend, then a rerun converges.

The state is the object `tuning/prod/default/reconciler.lock` in the emulator's bucket and the run lock the object
beside it (`….lock`). An `apply --parallelism 1` of three manifests (vx-a, vx-b on Vertex AI, gm-c on the Gemini
API) makes these kinds of mutating request (`gcs_harness.kind`; their order and the number of state writes are the
journal's business: it spaces writes to one object about a second apart, as Cloud Storage asks):

    lock-create    POST /upload/…?name=…reconciler.lock.lock&ifGenerationMatch=0       take the run lock
    lock-renew     POST /upload/…?name=…reconciler.lock.lock&ifGenerationMatch=G       renew its lease
    state-create   POST /upload/…?name=…reconciler.lock&ifGenerationMatch=0            the first state (intents)
    state-write    POST /upload/…?name=…reconciler.lock&ifGenerationMatch=G            every later state write
    gemini-create  POST /v1beta/tunedModels
    job-create     POST /v1/…/tuningJobs
    lock-delete    DELETE /storage/v1/b/…/o/…reconciler.lock.lock?ifGenerationMatch=G  release the run lock

Kill points, one per kind (two for job-create), to keep this file short while covering every kind (about 80 s of
test time, ~25 s wall with -n 4: state writes are spaced a second apart and a takeover waits out two leases): the
reconciler is SIGKILLed the moment the emulator has committed (2xx, its answer not yet sent) the first lock-create,
state-create, gemini-create, job-create and state-write, the lock-delete and (in a run whose
first job create is slowed down by 2.5 s, so that the lease is renewed meanwhile) the first lock-renew; and as the
first job-create arrives (never served: the intent is stored, the create never happened). The killed process
leaves the run lock behind (except after its lock-delete): every run here has `RECONCILER_STATE_LEASE=3` (the shortest allowed) and the
rerun `--lock-timeout 30s`, so it takes the dead holder's lock over once its lease has expired for another lease.

After each rerun (`apply --yes --wait`): exit 0, 0 duplicate jobs, 0 orphans, nothing untracked, exactly one job
or tuned model per manifest, no run lock left, a state object that parses with the lineage of its first write
(when the killed run had written one) and a higher serial (the same one when the run was killed after its
last state write and the rerun has nothing to do), and `plan --detailed-exitcode` exits 0.
"""

from __future__ import annotations

import signal
import time

import pytest

from gcs_harness import GcsEmulator, GcsRepo
from reliability_harness import census
from tests.testing.manifests import gemini_manifest, vertex_manifest

JOB_SECONDS = 0.5
LEASE = 3.0
ALL_JOBS = {"vx-a": 1, "vx-b": 1, "gm-c": 1}
# (kind, its n-th occurrence, when)
KILL_POINTS = [("lock-create", 1, "after-commit"), ("state-create", 1, "after-commit"),
               ("gemini-create", 1, "after-commit"), ("job-create", 1, "after-commit"),
               ("job-create", 1, "before-commit"), ("state-write", 1, "after-commit"),
               ("lock-delete", 1, "after-commit")]


def write_manifests(repo: GcsRepo) -> None:
    repo.write("vx-a", vertex_manifest("vx-a"))
    repo.write("vx-b", vertex_manifest("vx-b"))
    repo.write("gm-c", gemini_manifest("gm-c"))


def apply_args(*extra: str) -> tuple[str, ...]:
    return ("apply", "m", "--yes", "--parallelism", "1", *extra)


@pytest.mark.parametrize("kind,n,when", KILL_POINTS, ids=[f"{k}-{n}-{w}" for k, n, w in KILL_POINTS])
def test_kill_9_at_a_mutating_request_then_rerun_converges(tmp_path, kind, n, when):
    emulator = GcsEmulator(job_duration=JOB_SECONDS)
    try:
        repo = GcsRepo(tmp_path / "repo", emulator, lease=LEASE)
        write_manifests(repo)
        killer = emulator.kill_at({kind}, n, before=(when == "before-commit"))
        killed = kill_and_rerun(emulator, repo, killer, expected=kind)
        print(f"kill -9 at {kind} #{n} {when}: {killed}")
    finally:
        emulator.stop()


def test_kill_9_right_after_a_lease_renewal_then_rerun_converges(tmp_path):
    emulator = GcsEmulator(job_duration=JOB_SECONDS)
    try:
        repo = GcsRepo(tmp_path / "repo", emulator, lease=LEASE)
        write_manifests(repo)
        emulator.emulator.add_faults([{"method": "POST", "path": "*/tuningJobs", "latencyMs": 2500, "times": 1}])
        killer = emulator.kill_at({"lock-renew"}, 1)
        kill_and_rerun(emulator, repo, killer, expected="lock-renew")
        served = emulator.kinds_served()
        assert served.index("lock-renew") > served.index("lock-create")
    finally:
        emulator.stop()


def kill_and_rerun(emulator: GcsEmulator, repo: GcsRepo, killer, *, expected: str) -> str:
    process = repo.start(*apply_args())
    killer.process = process
    killed = repo.finish(process, apply_args())
    assert killer.fired, f"never reached {expected}\n{killed}"
    assert killed.code == -signal.SIGKILL, str(killed)
    assert killer.request["kind"] == expected
    before = emulator.state()
    after_kill = census(emulator, repo)
    print("\n" + after_kill.line(f"after kill -9 at {expected}"))
    assert after_kill.lock_valid or before is None, after_kill.lock_error
    assert not after_kill.duplicates
    lock_left = emulator.holder() is not None

    started = time.monotonic()
    rerun = repo.apply("--wait", "--lock-timeout", "30s")
    assert rerun.code == 0, str(rerun)
    if lock_left:  # the dead holder's lock was taken over, and said so
        assert "ended without releasing the state lock; taking over" in rerun.err, str(rerun)
    assert emulator.holder() is None, "the rerun left its run lock behind"
    repo.assert_converged()
    census(emulator, repo).check("after rerun", expect_jobs=ALL_JOBS)

    after = emulator.state()
    assert repo.read_lock() is not None  # decodes as a valid lock (codec + scope checks)
    assert set(after["entries"]) == set(ALL_JOBS)
    assert all(e["pending"] is None and e["current"] for e in after["entries"].values()), after["entries"]
    if before is not None:
        assert after["lineage"] == before["lineage"], "the rerun started a new lineage"
        if "Plan: no changes" in rerun.out:  # killed after its last state write: nothing left to do or write
            assert after["serial"] == before["serial"], (before["serial"], after["serial"])
        else:
            assert after["serial"] > before["serial"], (before["serial"], after["serial"])
    return f"rerun took {time.monotonic() - started:.1f}s (run lock left behind: {lock_left})"
