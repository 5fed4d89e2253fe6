"""Training data as code, end to end against the emulator (its tuning APIs and its Cloud Storage): a Vertex
dataset kept in the repository is uploaded content-addressed and trained on; an edit to it is a retrain that
says what changed; a gs:// dataset rewritten in place is reported (or retrained on, by policy); a missing one is
a plan error before anything is paid for; and `--max-cost` refuses a bill over budget."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from reconciler.emulator import Emulator
from tests.testing import cli as reconciler_cli
from tests.testing.emulators import running
from tests.testing.handmade import PROJECT, Root, get, root

STAGING = "gs://acme-data/staging"
STORAGE_AUTH = {"Authorization": "Bearer t"}
JOB_SECONDS = 4


def rows(count: int, start: int = 0) -> str:
    return "".join(json.dumps({"contents": [{"role": "user", "parts": [{"text": f"What is {i} + 1?"}]},
                                            {"role": "model", "parts": [{"text": str(i + 1)}]}]}) + "\n"
                   for i in range(start, start + count))


def local_manifest(name: str, *, epochs: int = 3, policy: str = "") -> str:
    return (f"apiVersion: reconciler/v1\nkind: TunedModel\nmetadata: {{name: {name}}}\nspec:\n  platform: vertex\n"
            f"  baseModel: gemini-2.5-flash\n  training: {{file: data/{name}.jsonl}}\n"
            f"  hyperParameters: {{epochCount: {epochs}}}\n" + (f"  policy: {policy}\n" if policy else ""))


def remote_manifest(name: str, uri: str, *, policy: str = "") -> str:
    return (f"apiVersion: reconciler/v1\nkind: TunedModel\nmetadata: {{name: {name}}}\nspec:\n  platform: vertex\n"
            f"  baseModel: gemini-2.5-flash\n  training: {{dataset: {uri}}}\n  hyperParameters: {{epochCount: 2}}\n"
            + (f"  policy: {policy}\n" if policy else ""))


class Storage:
    def __init__(self, emulator: Emulator):
        self.http = httpx.Client(base_url=emulator.base_url, headers=STORAGE_AUTH, timeout=30)

    def bucket(self, name: str) -> None:
        assert self.http.post("/storage/v1/b", params={"project": PROJECT}, json={"name": name}).status_code == 200

    def put(self, uri: str, data: bytes) -> str:
        bucket, _, name = uri.removeprefix("gs://").partition("/")
        answer = self.http.post(f"/upload/storage/v1/b/{bucket}/o", params={"uploadType": "media", "name": name},
                                content=data, headers={"content-type": "application/jsonl"})
        assert answer.status_code == 200, answer.text
        return answer.json()["generation"]

    def names(self, bucket: str) -> list[str]:
        return [item["name"] for item in self.http.get(f"/storage/v1/b/{bucket}/o").json().get("items", [])]


@pytest.fixture
def world(tmp_path: Path):
    with running(job_duration=JOB_SECONDS) as emulator:
        storage = Storage(emulator)
        storage.bucket("acme-data")
        repo = root(tmp_path / "m", emulator)
        config = repo.path / "reconciler.yaml"
        config.write_text(config.read_text() + f"staging: {STAGING}\n")
        yield repo, storage, emulator


def job_of(repo: Root, name: str) -> dict:
    lock = repo.lock()
    return get(repo.emulator, lock["entries"][name]["current"]["job"])


def test_a_repository_file_is_uploaded_once_by_content_and_trained_on(world):
    repo, storage, emulator = world
    (repo.path / "data").mkdir()
    (repo.path / "data" / "faq.jsonl").write_text(rows(120))
    (repo.path / "faq.yaml").write_text(local_manifest("faq"))

    planned = repo.run("plan", ".")
    assert planned.code == 0, planned
    characters = sum(len(f"What is {i} + 1?") + len(str(i + 1)) for i in range(120))
    tokens = -(-characters // 4)  # 4 characters a token, rounded up
    assert "+ train   faq" in planned.out and f"≈ {tokens} tokens × 3 epochs" in planned.out, planned.out
    assert "Estimated cost:" in planned.out

    applied = repo.run("apply", ".", "--yes", "--wait")
    assert applied.code == 0, applied
    staged = [n for n in storage.names("acme-data") if n.startswith("staging/")]
    assert len(staged) == 1 and staged[0].startswith("staging/sha256-") and staged[0].endswith(".jsonl")
    job = job_of(repo, "faq")
    assert job["supervisedTuningSpec"]["trainingDatasetUri"] == f"gs://acme-data/{staged[0]}"
    assert job["tuningDataStats"]["supervisedTuningDataStats"]["tuningDatasetExampleCount"] == "120"
    billed = int(job["tuningDataStats"]["supervisedTuningDataStats"]["totalBillableTokenCount"])
    assert billed == tokens * 3  # the emulator bills characters ÷ 4 × epochs of the data it holds
    status = repo.run("status", ".")  # the job ended: its estimate beside the tokens the API says were billed
    shown = f"{billed / 1000:.1f} k tokens"
    assert f"$ faq: est. < $0.01 (≈ {shown}) · reported: {shown} billable" in status.out, status.out

    # a second train of the same bytes (--replace) finds the object there: still one object, one upload landed
    again = repo.run("apply", ".", "--yes", "--replace", "faq", "--wait")  # the old model retired too
    assert again.code == 0, again
    uploads = [r for r in emulator.requests() if r["method"] == "POST" and r["path"].startswith("/upload/")]
    assert len(uploads) == 2 and [n for n in storage.names("acme-data") if n.startswith("staging/")] == staged
    assert repo.run("plan", ".", "--detailed-exitcode").code == 0


def test_an_edit_to_the_file_is_a_retrain_that_says_what_changed(world):
    repo, storage, emulator = world
    (repo.path / "data").mkdir()
    data = repo.path / "data" / "faq.jsonl"
    data.write_text(rows(120))
    (repo.path / "faq.yaml").write_text(local_manifest("faq"))
    assert repo.run("apply", ".", "--yes", "--wait").code == 0

    data.write_text(rows(115, start=5) + rows(20, start=1000))  # 5 rows removed, 20 added
    planned = repo.run("plan", ".", "--detailed-exitcode")
    assert planned.code == 2, planned
    assert "-/+ retrain faq" in planned.out
    assert "training data changed: data/faq.jsonl: 120 → 135 rows (+20, −5)" in planned.out, planned.out
    assert "~ training.file.rows: 120 → 135" in planned.out

    # moving the file (same bytes) retrains nothing: the path is not part of the spec
    assert repo.run("apply", ".", "--yes", "--wait").code == 0
    (repo.path / "data" / "faq.jsonl").rename(repo.path / "data" / "renamed.jsonl")
    (repo.path / "faq.yaml").write_text(local_manifest("faq").replace("data/faq.jsonl", "data/renamed.jsonl"))
    assert repo.run("plan", ".", "--detailed-exitcode").code == 0


def test_a_remote_dataset_rewritten_in_place_is_reported_then_retrained_by_policy(world):
    repo, storage, emulator = world
    uri = "gs://acme-data/support/train.jsonl"
    first = storage.put(uri, rows(110).encode())
    (repo.path / "bot.yaml").write_text(remote_manifest("bot", uri))
    assert repo.run("apply", ".", "--yes", "--wait").code == 0
    assert repo.lock()["entries"]["bot"]["trainedOn"][0]["generation"] == first
    assert repo.run("plan", ".", "--detailed-exitcode").code == 0

    second = storage.put(uri, rows(130).encode())  # new data, same URI
    reported = repo.run("plan", ".", "--detailed-exitcode")
    assert reported.code == 2, reported  # a fact a drift check must see
    assert f"training data changed at {uri}: generation {first} → {second}" in reported.out, reported.out
    assert "not retrained (policy.onDataChange: report)" in reported.out
    assert "to retrain" not in reported.out.split("Plan:")[-1]

    (repo.path / "bot.yaml").write_text(remote_manifest("bot", uri, policy="{onDataChange: retrain}"))
    retrained = repo.run("apply", ".", "--yes", "--wait")
    assert retrained.code == 0, retrained
    assert "retrain" in retrained.out and f"generation {first} → {second}" in retrained.out
    assert repo.lock()["entries"]["bot"]["trainedOn"][0]["generation"] == second
    assert repo.run("plan", ".", "--detailed-exitcode").code == 0


def test_a_missing_dataset_is_a_plan_error_and_nothing_is_sent(world):
    repo, storage, emulator = world
    (repo.path / "bot.yaml").write_text(remote_manifest("bot", "gs://acme-data/nowhere/train.jsonl"))
    for command in (("plan", "."), ("apply", ".", "--yes")):
        result = repo.run(*command)
        assert result.code == 1, result
        assert "gs://acme-data/nowhere/train.jsonl does not exist (HTTP 404)" in result.err, result.err
        assert "Traceback" not in result.err
    assert repo.creates() == 0 and repo.lock() is None


def test_max_cost_refuses_a_plan_over_budget_or_of_unknown_cost(world):
    repo, storage, emulator = world
    (repo.path / "data").mkdir()
    (repo.path / "data" / "faq.jsonl").write_text(rows(3000))
    (repo.path / "faq.yaml").write_text(local_manifest("faq", epochs=1000))
    refused = repo.run("apply", ".", "--yes", "--max-cost", "0.01")
    assert refused.code == 1, refused
    assert "--max-cost $0.01: the estimated cost" in refused.err and "exceeds it (faq" in refused.err, refused.err
    assert repo.creates() == 0

    (repo.path / "bot.yaml").write_text(remote_manifest("bot", "gs://cloud-samples-data/ai-platform/generative_ai/"
                                                              "gemini/text/sft_train_data.jsonl"))
    unknown = repo.run("apply", ".", "--yes", "--max-cost", "1000", "--target", "bot")
    assert unknown.code == 1 and "bot: data not read" in unknown.err, unknown
    assert repo.creates() == 0

    (repo.path / "faq.yaml").write_text(local_manifest("faq", epochs=1000, policy="{maxCost: 0.001}"))
    limited = repo.run("apply", ".", "--yes", "--target", "faq")
    assert limited.code == 1 and "faq: policy.maxCost" in limited.err, limited
    assert repo.creates() == 0
    assert repo.run("apply", ".", "--yes", "--max-cost", "1000", "--target", "faq").code == 1  # still policy
    (repo.path / "faq.yaml").write_text(local_manifest("faq", epochs=1))
    assert repo.run("apply", ".", "--yes", "--max-cost", "1", "--target", "faq").code == 0


def test_remote_reads_the_data_of_paid_changes_to_price_and_check_it(world):
    repo, storage, emulator = world
    good, bad = "gs://acme-data/good/train.jsonl", "gs://acme-data/bad/train.jsonl"
    storage.put(good, rows(200).encode())
    storage.put(bad, (rows(120) + '{"contents": [{"role": "model", "parts": [{"text": "hi"}]}]}\n').encode())
    (repo.path / "bot.yaml").write_text(remote_manifest("bot", good))

    offline = repo.run("plan", ".")
    assert "cost unknown: data not read" in offline.out, offline.out
    characters = sum(len(f"What is {i} + 1?") + len(str(i + 1)) for i in range(200))
    priced = repo.run("plan", ".", "--remote")
    assert priced.code == 0 and f"≈ {-(-characters // 4)} tokens × 2 epochs" in priced.out, priced
    downloads = [r for r in emulator.requests() if r["path"].startswith("/download/")]
    assert len(downloads) == 1  # the paid change's dataset, once

    (repo.path / "bot.yaml").write_text(remote_manifest("bot", bad))
    broken = repo.run("plan", ".", "--remote")
    assert broken.code == 1, broken
    assert f"{bad}:121:" in broken.err and "must start with a 'user' message" in broken.err, broken.err
    assert repo.run("apply", ".", "--yes", "--remote").code == 1 and repo.creates() == 0


def test_a_staging_location_without_a_bucket_fails_the_create_before_anything_is_paid(world):
    repo, storage, emulator = world
    config = repo.path / "reconciler.yaml"
    config.write_text(config.read_text().replace(STAGING, "gs://no-such-bucket/staging"))
    (repo.path / "data").mkdir()
    (repo.path / "data" / "faq.jsonl").write_text(rows(120))
    (repo.path / "faq.yaml").write_text(local_manifest("faq"))
    failed = repo.run("apply", ".", "--yes")
    assert failed.code == 1, failed
    assert ("cannot upload data/faq.jsonl to the staging location gs://no-such-bucket/staging: the bucket does not "
            "exist (HTTP 404); create it (gcloud storage buckets create gs://no-such-bucket)") in failed.out, failed
    assert repo.creates() == 0
    assert repo.lock()["entries"].get("faq") is None or repo.lock()["entries"]["faq"]["current"] is None


def test_validate_checks_a_repository_file_and_needs_a_staging_location(tmp_path):
    root = tmp_path / "m"
    (root / "data").mkdir(parents=True)
    (root / "reconciler.yaml").write_text("defaults: {project: demo-project, location: us-central1}\n")
    broken = rows(119) + json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}) + "\n"
    (root / "data" / "faq.jsonl").write_text(broken)
    (root / "faq.yaml").write_text(local_manifest("faq"))
    env = {"HOME": str(tmp_path)}
    no_staging = reconciler_cli.run("validate", "m", cwd=tmp_path, env=reconciler_cli.bare_environment(env))
    assert no_staging.code == 1, no_staging
    assert "m/faq.yaml:7:14: training.file needs a staging location for the upload: add `staging: " \
           "gs://BUCKET/PREFIX` to reconciler.yaml" in no_staging.err, no_staging.err
    (root / "reconciler.yaml").write_text((root / "reconciler.yaml").read_text() + f"staging: {STAGING}\n")
    checked = reconciler_cli.run("validate", "m", cwd=tmp_path, env=reconciler_cli.bare_environment(env))
    assert checked.code == 1, checked
    assert "m/data/faq.jsonl:120:" in checked.err and "must end with a 'model' message" in checked.err, checked.err
    (root / "data" / "faq.jsonl").write_text(rows(120))
    assert reconciler_cli.run("validate", "m", cwd=tmp_path, env=reconciler_cli.bare_environment(env)).code == 0
