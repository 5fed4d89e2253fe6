"""kill -9 between a training file's upload and the tuning job's create, then a rerun: exactly one job (issue 14).

A Vertex manifest `t` trains on `data/t.jsonl`, kept in the repository; reconciler.yaml (the gcs state backend of
`gcs_harness`) adds `staging: gs://acme-state/staging`. `apply` stores the intent, uploads the file to
`staging/sha256-<hex>.jsonl` with `ifGenerationMatch=0` (kind `upload staging/sha256-<hex>.jsonl`), then creates
the tuning job (kind `job-create`). The reconciler is SIGKILLed:

    (a) right after the upload committed, before the job create was sent;
    (b) as the job create arrives (never served: the object is there, the job is not);
    (c) right after the job create committed (its answer never sent).

After each, `apply --yes --wait --lock-timeout 30s` (it takes the dead holder's run lock over once the lease of
3 s has expired) exits 0; the emulator holds exactly one tuning job for `t`, exactly one object under `staging/`,
the job trains on that object, and `plan --detailed-exitcode` exits 0.

(d) The staged object's name already holds OTHER bytes (uploaded by hand before the apply): the upload answers
412, the object is read back and its size and MD5 are not the file's, so the apply fails for `t` saying the
object does not hold the bytes uploaded, exits non-zero, and no job is created.
"""

from __future__ import annotations

import hashlib
import json
import signal

import pytest

from gcs_harness import BUCKET, STORAGE_AUTH, GcsEmulator, GcsRepo, GCS_CONFIG
from reliability_harness import census

JOB_SECONDS = 0.5
LEASE = 3.0
NAME = "t"
ROWS = 120
STAGING_PREFIX = "staging/"


def rows(count: int, start: int = 0) -> bytes:
    return "".join(json.dumps({"contents": [{"role": "user", "parts": [{"text": f"What is {i} + 1?"}]},
                                            {"role": "model", "parts": [{"text": str(i + 1)}]}]}) + "\n"
                   for i in range(start, start + count)).encode()


DATA = rows(ROWS)
OBJECT = f"{STAGING_PREFIX}sha256-{hashlib.sha256(DATA).hexdigest()}.jsonl"
UPLOAD = f"upload {OBJECT}"


def manifest(name: str) -> str:
    return (f"apiVersion: reconciler/v1\nkind: TunedModel\nmetadata: {{name: {name}, labels: {{team: rel}}}}\n"
            f"spec:\n  platform: vertex\n  baseModel: gemini-2.5-flash\n  displayName: {name} model\n"
            f"  training: {{file: data/{name}.jsonl}}\n  hyperParameters: {{epochCount: 2}}\n"
            "  exportLastCheckpointOnly: true\n")


def make_repo(tmp_path, emulator: GcsEmulator) -> GcsRepo:
    repo = GcsRepo(tmp_path / "repo", emulator, lease=LEASE)
    (repo.manifests / "reconciler.yaml").write_text(GCS_CONFIG + f"staging: gs://{BUCKET}/staging\n")
    (repo.manifests / "data").mkdir()
    (repo.manifests / "data" / f"{NAME}.jsonl").write_bytes(DATA)
    repo.write(NAME, manifest(NAME))
    return repo


def staged(emulator: GcsEmulator) -> list[str]:
    """The names of the objects under `staging/` in the bucket."""
    with emulator.http() as http:
        response = http.get(f"/storage/v1/b/{BUCKET}/o", params={"prefix": STAGING_PREFIX},
                            headers=STORAGE_AUTH)
    assert response.status_code == 200, response.text
    return sorted(i["name"] for i in response.json().get("items", []) if i["name"].startswith(STAGING_PREFIX))


def jobs_of(emulator: GcsEmulator, name: str) -> list[dict]:
    return [j for j in emulator.jobs() if (j.get("labels") or {}).get("reconciler-name") == name]


KILL_POINTS = [(UPLOAD, False), ("job-create", True), ("job-create", False)]
IDS = ["a-after-upload-committed", "b-as-job-create-arrives", "c-after-job-create-committed"]


@pytest.mark.slow
@pytest.mark.parametrize("kind,before", KILL_POINTS, ids=IDS)
def test_kill_9_between_upload_and_create_then_rerun_gives_one_job(tmp_path, kind, before):
    emulator = GcsEmulator(job_duration=JOB_SECONDS)
    try:
        repo = make_repo(tmp_path, emulator)
        killer = emulator.kill_at({kind}, 1, before=before)
        args = ("apply", "m", "--yes", "--parallelism", "1")
        process = repo.start(*args)
        killer.process = process
        killed = repo.finish(process, args)
        assert killer.fired, f"never reached {kind}\n{killed}\nserved: {emulator.kinds_served()}"
        assert killed.code == -signal.SIGKILL, str(killed)
        assert killer.request["kind"] == kind
        served = emulator.kinds_served()
        assert UPLOAD in served, served  # the upload happened in the killed run, in every case
        if kind == UPLOAD:
            assert "job-create" not in served, served
        after_kill = census(emulator, repo)
        print("\n" + after_kill.line(f"after kill -9 at {kind} ({'before' if before else 'after'} commit)"))
        assert len(jobs_of(emulator, NAME)) == (1 if kind == "job-create" and not before else 0)
        assert staged(emulator) == [OBJECT]

        rerun = repo.apply("--wait", "--lock-timeout", "30s")
        assert rerun.code == 0, str(rerun)
        assert emulator.holder() is None, "the rerun left its run lock behind"
        census(emulator, repo).check("after rerun", expect_jobs={NAME: 1})
        [job] = jobs_of(emulator, NAME)
        assert staged(emulator) == [OBJECT]
        assert job["supervisedTuningSpec"]["trainingDatasetUri"] == f"gs://{BUCKET}/{OBJECT}"
        lock = emulator.state()
        entry = lock["entries"][NAME]
        assert entry["pending"] is None and entry["current"]["job"].endswith(job["name"].rsplit("/", 1)[1])
        if kind == UPLOAD or before:  # the rerun found the object there: its upload answered 412, then verified
            rerun_uploads = [s for s in emulator.log if s[0] == UPLOAD]
            assert rerun_uploads[-1][1] == 412, rerun_uploads
        repo.assert_converged()
    finally:
        emulator.stop()


@pytest.mark.slow
def test_a_staged_name_holding_other_bytes_fails_the_apply_and_creates_no_job(tmp_path):
    emulator = GcsEmulator(job_duration=JOB_SECONDS)
    try:
        repo = make_repo(tmp_path, emulator)
        other = rows(ROWS, start=1000)
        assert len(other) != len(DATA) or other != DATA
        emulator.upload(OBJECT, other)
        emulator.log.clear()

        applied = repo.apply("--wait")
        assert applied.code != 0, str(applied)
        text = applied.out + applied.err
        assert "does not hold the bytes uploaded" in text, text
        assert OBJECT in text, text
        assert "job-create" not in emulator.kinds_served(), emulator.kinds_served()
        assert jobs_of(emulator, NAME) == []
        census(emulator, repo).check("after the refused apply", expect_jobs={})
        assert staged(emulator) == [OBJECT]
        assert emulator.download(OBJECT)[0] == other  # never overwritten
        assert emulator.holder() is None, "the apply left its run lock behind"
        lock = repo.read_lock()
        assert lock is None or NAME not in lock.entries or lock.entries[NAME].pending is None  # refused, not interrupted
        planned = repo.plan()
        assert planned.code == 2 and "+ train   t" in planned.out, str(planned)  # still to do, nothing adopted
        assert "interrupted" not in planned.out, planned.out
        print(f"\nexit {applied.code}; output:\n{applied.out}\n{applied.err}")
    finally:
        emulator.stop()
