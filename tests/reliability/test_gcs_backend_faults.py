"""Cloud Storage faults under a real `reconciler apply` with the gcs backend (the CLI as a child process, the
emulator in the test process so that a fault can be aimed at one kind of request: `gcs_harness.kind`).

- 412 on a state write while the object is unchanged (a precondition failure that was not one): the backend
  reads the object back, finds the generation it expected and writes once more; the apply succeeds and records
  everything. Twice in a row (both against the unchanged object): it fails safe: exit 1 ("… twice with 412 …
  nothing was overwritten", not "changed since it was read": nobody else wrote), no run lock left, no job
  duplicated, untracked or orphaned; any later write of it is still a compare-and-swap on the generation it
  knows (same lineage, never an older serial); a rerun trains only what was never created.
  (The emulator's fault rules refuse `"status": 412` today: "status must be one of [400, 401, 403, 404, 409,
  429, 499, 500, 501, 503, 504]", so the 412 is answered by a hook with the emulator's own Cloud Storage
  `conditionNotMet` envelope, the request never served; fault-rule paths could not tell the state object's
  uploads from the run lock's anyway: both are `POST /upload/storage/v1/b/B/o`, the name is in the query.)
- A 503 storm on every Cloud Storage surface (uploads, downloads, the lock release): retried, the apply
  succeeds, exactly one job per manifest, a complete state, no run lock left.
- Commit-then-drop (`"action": "drop"`) on the state write that stores the intents, and on the one that records
  a create: the write landed but its answer was lost; the retry's 412 is resolved by reading our own bytes back.
  The answer is never lost (the state records the create) and nothing is applied twice (one job).
- A newer state written behind the run's back while its create is in flight: the run's next write is refused
  (412), the run exits 1 saying the object "changed since it was read", the newer state is left intact byte for
  byte, and a rerun from it adopts the job that run created instead of training another.
"""

from __future__ import annotations

import json
import re
import threading

import pytest

from gcs_harness import STATE_OBJECT, GcsEmulator, GcsRepo, logged_kind
from reconciler.emulator.storage.errors import condition_not_met
from reliability_harness import census
from tests.testing.manifests import gemini_manifest, vertex_manifest

ALL_JOBS = {"vx-a": 1, "vx-b": 1, "gm-c": 1}
APPLY = ("--parallelism", "1")


@pytest.fixture
def emulator():
    emu = GcsEmulator(job_duration=600)
    yield emu
    emu.stop()


def repo_with_manifests(tmp_path, emulator, names=("vx-a", "vx-b", "gm-c")) -> GcsRepo:
    repo = GcsRepo(tmp_path / "repo", emulator)
    for name in names:
        repo.write(name, gemini_manifest(name) if name.startswith("gm-") else vertex_manifest(name))
    return repo


def assert_complete(emulator: GcsEmulator, repo: GcsRepo, label: str) -> dict:
    census(emulator, repo).check(label, expect_jobs=ALL_JOBS)
    state = emulator.state()
    assert repo.read_lock() is not None
    assert set(state["entries"]) == set(ALL_JOBS), state["entries"].keys()
    assert all(e["pending"] is None and e["current"] for e in state["entries"].values()), state["entries"]
    assert emulator.holder() is None, "run lock left behind"
    return state


# ------------------------------------------------------------------------------------------------ 412


@pytest.mark.parametrize("target", ["state-create", "state-write"])
def test_a_412_on_an_unchanged_state_object_is_retried_once(tmp_path, emulator, target):
    repo = repo_with_manifests(tmp_path, emulator)
    refused = {}

    def precondition_failed(request):
        refused["before"] = emulator.download(STATE_OBJECT)
        return condition_not_met().reply()

    hook = emulator.on(target, precondition_failed, before=True)
    result = repo.apply(*APPLY)
    assert hook.fired, emulator.kinds_served()
    assert result.code == 0, str(result)
    state = assert_complete(emulator, repo, f"after a 412 on {target}")
    kinds = emulator.kinds_served()
    assert kinds.count("lock-create") == 1
    repo.assert_converged()
    print(f"\n412 on the first {target}: served {kinds}; state serial {state['serial']}")


def test_two_412s_on_an_unchanged_state_object_fail_safe(tmp_path, emulator):
    repo = repo_with_manifests(tmp_path, emulator)
    seen = []

    def precondition_failed(request):
        seen.append((emulator.download(STATE_OBJECT), request["query"]["ifGenerationMatch"]))
        return condition_not_met().reply()

    # the write that records gm-c's create: its first try and the one retry after reading the object back
    first = emulator.on("state-write", precondition_failed, at=1, before=True)
    second = emulator.on("state-write", precondition_failed, at=2, before=True)
    result = repo.apply(*APPLY)
    assert first.fired and second.fired
    assert result.code == 1, str(result)
    # the object did not change: the message says what happened (two 412s), not that another run wrote it
    assert "412" in result.err and "nothing was overwritten" in result.err, str(result)
    assert "changed since it was read" not in result.err and "Traceback" not in result.err, str(result)
    (stored, generation), tried = seen[0][0], seen[0][1]
    assert seen[1] == seen[0] and tried == str(generation), "both refused writes were against the unchanged object"
    # Any later write of the run is a compare-and-swap on that same generation (nobody else wrote): it may land,
    # and it carries the whole state: the same lineage, never an older serial, nothing lost.
    final = emulator.state()
    assert final["lineage"] == json.loads(stored)["lineage"] and final["serial"] >= json.loads(stored)["serial"]
    assert emulator.holder() is None, "the failed run left its run lock behind"
    after = census(emulator, repo)
    assert not after.duplicates and after.lock_valid and not after.untracked and not after.orphans, \
        after.line("after the failed run") + f" {after.orphans} {after.untracked}"

    rerun = repo.apply(*APPLY)
    assert rerun.code == 0, str(rerun)
    retrained = set(re.findall(r"^\+ train (\S+):", rerun.out, re.MULTILINE))
    assert not retrained & set(after.jobs), f"trained again: {retrained & set(after.jobs)}\n{rerun}"
    assert_complete(emulator, repo, "after the rerun")
    repo.assert_converged()
    print(f"\n412 twice: jobs after the failed run {after.jobs}; the rerun trained {sorted(retrained)}")


# ------------------------------------------------------------------------------------------------ 503 storm


def test_a_503_storm_on_cloud_storage_is_retried(tmp_path, emulator):
    repo = repo_with_manifests(tmp_path, emulator)
    emulator.emulator.add_faults([
        {"method": "POST", "path": "/upload/storage/v1/b/*/o", "status": 503, "times": 3},
        {"method": "GET", "path": "/download/storage/v1/b/*", "status": 503, "times": 2},
        {"method": "DELETE", "path": "/storage/v1/b/*/o/*", "status": 503, "times": 2},
        {"path": "/upload/storage/v1/b/*/o", "status": 503, "probability": 0.3},
        {"method": "GET", "path": "/download/storage/v1/b/*", "status": 503, "probability": 0.2},
    ], seed=11)
    result = repo.apply(*APPLY, timeout=120)
    storage_503 = [r for r in emulator.requests()
                   if r["status"] == 503 and r["path"].startswith(("/upload/", "/download/", "/storage/"))]
    emulator.clear_faults()
    assert result.code == 0, str(result)
    assert len(storage_503) >= 7, storage_503
    assert {r["method"] for r in storage_503} == {"POST", "GET", "DELETE"}
    assert_complete(emulator, repo, "after a 503 storm")
    repo.assert_converged()
    print(f"\n503 storm: {len(storage_503)} Cloud Storage 503s, apply took {result.seconds:.1f}s")


# ------------------------------------------------------------------------------------------------ drop


@pytest.mark.parametrize("after_kind,dropped", [("lock-create", "state-create (the intents)"),
                                                ("job-create", "state-write (recording vx-a's create)")])
def test_commit_then_drop_on_a_state_write_is_resolved_by_reading_back(tmp_path, emulator, after_kind, dropped):
    repo = repo_with_manifests(tmp_path, emulator)
    drop_next_upload = [{"method": "POST", "path": "/upload/storage/v1/b/*/o", "action": "drop", "times": 1}]
    emulator.on(after_kind, lambda request, reply: emulator.emulator.add_faults(drop_next_upload))
    result = repo.apply(*APPLY)
    assert result.code == 0, str(result)
    log = emulator.requests()
    dropped_writes = [r for r in log if r.get("dropped")]
    assert [logged_kind(r) for r in dropped_writes] == [after_kind and dropped.split()[0]], dropped_writes
    state = assert_complete(emulator, repo, f"after a dropped {dropped}")
    if after_kind == "job-create":
        job = [j for j in emulator.jobs() if j["labels"]["reconciler-name"] == "vx-a"][0]
        assert state["entries"]["vx-a"]["current"]["job"].rsplit("/", 1)[1] == job["name"].rsplit("/", 1)[1]
    repo.assert_converged()


# ------------------------------------------------------------------------------------------------ a newer state


def test_a_newer_state_written_mid_apply_is_never_overwritten(tmp_path, emulator):
    repo = repo_with_manifests(tmp_path, emulator, names=("vx-a", "gm-c"))
    first = repo.apply(*APPLY)
    assert first.code == 0, str(first)
    repo.write("vx-b", vertex_manifest("vx-b"))
    newer: dict = {}

    def write_behind_the_runs_back(request):
        """Another runner (no lock, e.g. a hand `gcloud storage cp`) stores serial + 10 while vx-b's create
        is in flight (this callback runs in the emulator's thread for that create, before serving it)."""
        data, _ = emulator.download(STATE_OBJECT)
        state = json.loads(data)
        state["serial"] += 10
        newer["bytes"] = (json.dumps(state, indent=2, sort_keys=True) + "\n").encode()
        done = threading.Event()

        def upload():  # a separate connection, as another machine would
            newer["generation"] = emulator.upload(STATE_OBJECT, newer["bytes"])
            done.set()

        threading.Thread(target=upload, daemon=True).start()
        assert done.wait(30)

    hook = emulator.on("job-create", write_behind_the_runs_back, before=True)
    result = repo.apply(*APPLY)
    assert hook.fired
    assert result.code == 1, str(result)
    assert "changed since it was read" in result.err and "nothing was overwritten" in result.err, str(result)
    assert emulator.download(STATE_OBJECT) == (newer["bytes"], newer["generation"]), "the newer state was replaced"
    assert emulator.holder() is None
    assert not census(emulator, repo).duplicates

    rerun = repo.apply(*APPLY)
    assert rerun.code == 0, str(rerun)
    assert "+ train" not in rerun.out and "adopt" in rerun.out, str(rerun)  # vx-b's job is adopted
    state = assert_complete(emulator, repo, "after the rerun")
    assert state["serial"] > json.loads(newer["bytes"])["serial"]
    repo.assert_converged()
