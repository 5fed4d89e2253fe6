"""`validate --remote` and `check_remote`: Cloud Storage datasets streamed from a real emulator and checked, each
problem located `gs://bucket/object:line:col`; a missing object, one the credentials cannot read, one over the
cap and a server that breaks off each say so in one line, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.datasets.remote import check_remote, datasets
from reconciler.desired import DesiredResource, Policy
from reconciler.manifest.diagnostics import Diagnostics
from reconciler.platforms.connect import connect_storage
from tests.testing import cli as reconciler_cli
from tests.testing.emulators import running

BUCKET = "tuning-data"
ROW = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}, {"role": "model", "parts": [{"text": "Hello"}]}]}
GOOD = (json.dumps(ROW) + "\n").encode() * 120
BAD = GOOD[: len(GOOD) // 2] + b'{"contents": [{"role": "system", "parts": [{"text": "Be brief."}]}]}\n' + b"{oops\n"
MANIFEST = """apiVersion: reconciler/v1
kind: TunedModel
metadata: {{name: {name}}}
spec:
  platform: vertex
  baseModel: gemini-2.5-flash
  training:
    dataset: gs://{bucket}/{train}
{validation}"""


@pytest.fixture(scope="module")
def served() -> Iterator:
    """One emulator for the module, holding a good, a bad and a validation file (over 256 rows)."""
    with running() as emulator, connect_storage(api_endpoint=emulator.base_url, emulator=True) as storage:
        storage.create_bucket("test-project", BUCKET)
        for name, data in (("good.jsonl", GOOD), ("bad.jsonl", BAD), ("long-validation.jsonl", GOOD * 3)):
            storage.upload(BUCKET, name, data, if_generation_match=0, content_type="application/jsonl")
        yield emulator, storage


def checked(storage, name: str, **options) -> tuple[object, list[str]]:
    diagnostics = Diagnostics(secrets=())
    summary = check_remote(storage, f"gs://{BUCKET}/{name}", diagnostics, **{"validation": False, **options})
    return summary, [str(d) for d in diagnostics.items]


def test_a_good_object_is_read_whole_as_a_stream(served):
    _, storage = served
    summary, messages = checked(storage, "good.jsonl")
    assert messages == [] and (summary.rows, summary.size, summary.characters) == (120, len(GOOD), 120 * 7)


def test_problems_in_an_object_are_located_in_it(served):
    _, storage = served
    summary, messages = checked(storage, "bad.jsonl")
    uri = f"gs://{BUCKET}/bad.jsonl"
    assert messages == [
        f"{uri}:61:24: row 61: contents[0]: 'system' is not a message role; move the system prompt to the row's "
        'top-level "systemInstruction": {"parts": [{"text": ...}]}',
        f"{uri}:62:2: row 62: invalid JSON: Expecting property name enclosed in double quotes",
        f"{uri}: warning: only 62 training examples; at least 100 are recommended for good results"]
    assert summary.size == len(BAD)


def test_a_validation_object_over_256_rows_is_refused(served):
    _, storage = served
    _, messages = checked(storage, "long-validation.jsonl", validation=True)
    assert messages == [f"gs://{BUCKET}/long-validation.jsonl:257:1: row 257: more than 256 examples; Vertex AI "
                        "accepts at most 256 in a validation dataset"]


def test_a_missing_object_or_bucket_says_so(served):
    _, storage = served
    assert checked(storage, "nope.jsonl") == (None, [f"gs://{BUCKET}/nope.jsonl: no such object (HTTP 404)"])
    diagnostics = Diagnostics(secrets=())
    assert check_remote(storage, "gs://no-such-bucket/x.jsonl", diagnostics, validation=False) is None
    assert [str(d) for d in diagnostics.items] == ["gs://no-such-bucket/x.jsonl: no such bucket (HTTP 404)"]


def test_an_object_over_the_cap_is_not_downloaded(served):
    emulator, storage = served
    before = len(emulator.requests())
    assert checked(storage, "good.jsonl", max_bytes=1000) == (
        None, [f"gs://{BUCKET}/good.jsonl: larger than 1000 bytes, the most a dataset may be; download aborted"])
    assert len(emulator.requests()) == before + 1


@pytest.mark.parametrize("fault, message", [
    ({"status": 403}, "the credentials cannot read it (HTTP 403): they need storage.objects.get on bucket "
                      f"{BUCKET} (e.g. roles/storage.objectViewer)"),
    ({"status": 500}, "cannot download it (HTTP 500): "),
    ({"action": "drop"}, "cannot download it: the download failed ("),
])
def test_a_refusing_or_broken_server_is_one_clear_line(served, fault, message):
    emulator, storage = served
    emulator.add_faults([{"path": f"/download/storage/v1/b/{BUCKET}/o/good.jsonl", "times": 1, **fault}])
    try:
        summary, messages = checked(storage, "good.jsonl")
    finally:
        emulator.clear_faults()
    assert summary is None and len(messages) == 1
    assert messages[0].startswith(f"gs://{BUCKET}/good.jsonl: {message}")


def test_the_datasets_of_the_manifests_each_once():
    def Resource(training):  # noqa: N802 - reads as the resource it builds
        return DesiredResource(name="n", platform="vertex", project="p", location="l", digest="d",
                               immutable={"training": training}, mutable={}, policy=Policy(), depends_on=None,
                               source="n.yaml:1")
    found = datasets([Resource({"dataset": "gs://b/t.jsonl", "validationDataset": "gs://b/v.jsonl"}),
                      Resource({"dataset": "gs://b/t.jsonl"}),
                      Resource({"dataset": "projects/p/locations/l/datasets/d"}), Resource({"examples": []})])
    assert found == {"gs://b/t.jsonl": {"dataset"}, "gs://b/v.jsonl": {"validationDataset"}}
    both = datasets([Resource({"dataset": "gs://b/t.jsonl", "validationDataset": "gs://b/t.jsonl"})])
    assert both == {"gs://b/t.jsonl": {"dataset", "validationDataset"}}  # one download, checked as both


# ------------------------------------------------------------------------------------------------ the command

def write_root(root: Path) -> Path:
    root.mkdir()
    (root / "reconciler.yaml").write_text("defaults: {project: test-project, location: us-central1}\n")
    (root / "good.yaml").write_text(MANIFEST.format(name="good", bucket=BUCKET, train="good.jsonl",
                                                    validation=f"    validationDataset: gs://{BUCKET}/good.jsonl\n"))
    (root / "bad.yaml").write_text(MANIFEST.format(name="bad", bucket=BUCKET, train="bad.jsonl", validation=""))
    (root / "gone.yaml").write_text(MANIFEST.format(name="gone", bucket=BUCKET, train="gone.jsonl", validation=""))
    return root


@pytest.mark.slow
def test_validate_remote_checks_every_dataset_against_the_emulator(served, tmp_path):
    emulator, _ = served
    root = write_root(tmp_path / "manifests")
    offline = reconciler_cli.run("validate", str(root), cwd=tmp_path)
    assert offline.code == 0, offline.err
    emulator.clear_requests()
    remote = reconciler_cli.run("validate", str(root), "--remote", "--api-endpoint", emulator.base_url, cwd=tmp_path)
    assert remote.code == 1, remote.err
    downloads = [r["path"] for r in emulator.requests() if r["path"].startswith("/download/")]
    assert sorted(downloads) == sorted(set(downloads)) and len(downloads) == 3  # good (named twice), bad, gone
    assert remote.err.splitlines() == [
        f"gs://{BUCKET}/bad.jsonl:61:24: row 61: contents[0]: 'system' is not a message role; move the system prompt "
        'to the row\'s top-level "systemInstruction": {"parts": [{"text": ...}]}',
        f"gs://{BUCKET}/bad.jsonl:62:2: row 62: invalid JSON: Expecting property name enclosed in double quotes",
        f"gs://{BUCKET}/bad.jsonl: warning: only 62 training examples; at least 100 are recommended for good results",
        f"gs://{BUCKET}/gone.jsonl: no such object (HTTP 404)",
        "3 errors, 1 warning"]
    (root / "bad.yaml").unlink()
    (root / "gone.yaml").unlink()
    fixed = reconciler_cli.run("validate", str(root), "--remote", "--api-endpoint", emulator.base_url, cwd=tmp_path)
    assert fixed.code == 0, fixed.err
    assert fixed.out.strip() == "1 manifest valid (1 vertex)"


def test_validate_without_remote_takes_no_endpoint(tmp_path):
    root = write_root(tmp_path / "manifests")
    done = reconciler_cli.run("validate", str(root), "--api-endpoint", "http://127.0.0.1:9", cwd=tmp_path)
    assert done.code == 1
    assert "--emulator and --api-endpoint only apply with --remote" in done.err


def test_validate_remote_without_credentials_says_what_to_do(tmp_path):
    root = write_root(tmp_path / "manifests")
    env = {k: v for k, v in reconciler_cli.environment().items() if k != "GOOGLE_OAUTH_ACCESS_TOKEN"}
    env.update({"GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "none.json"), "HOME": str(tmp_path)})
    done = reconciler_cli.run("validate", str(root), "--remote", cwd=tmp_path, env=env)
    assert done.code == 1, done.err
    assert done.err.startswith("error: validate --remote reads the datasets from Cloud Storage and needs Google "
                                     "credentials that can read them: run `gcloud auth application-default login`, "
                                     "or set GOOGLE_OAUTH_ACCESS_TOKEN (or check against the emulator: --emulator / "
                                     "--api-endpoint URL)")
    assert "none.json was not found" in done.err and "state backend" not in done.err


def test_without_a_storage_client_a_dataset_is_an_error_not_a_crash():
    diagnostics = Diagnostics()
    assert check_remote(None, "gs://b/t.jsonl", diagnostics, validation=False) is None
    assert [str(d) for d in diagnostics.items] == [
        "gs://b/t.jsonl: cannot download it: no Cloud Storage client (Vertex AI is not connected)"]
