"""The data a tuning job reads, in the emulator: Google's public samples are served read-only; a job whose
dataset the emulator holds reports that data's size; a dataset missing from a bucket the emulator holds fails the
job when it starts (the create is accepted, as Vertex AI's is); a bucket it does not hold is not judged."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.testing.emulators import running

PARENT = "projects/demo-project/locations/us-central1"
AUTH = {"Authorization": "Bearer t"}
SAMPLE = "gs://cloud-samples-data/ai-platform/generative_ai/gemini/text/sft_train_data.jsonl"
ROW = {"contents": [{"role": "user", "parts": [{"text": "abcd" * 5}]}, {"role": "model", "parts": [{"text": "ok"}]}]}


def job(uri: str, validation: str | None = None) -> dict:
    spec = {"trainingDatasetUri": uri, "hyperParameters": {"epochCount": 2}}
    if validation:
        spec["validationDatasetUri"] = validation
    return {"baseModel": "gemini-2.5-flash", "supervisedTuningSpec": spec}


@pytest.fixture
def api():
    with running(job_duration=10) as emulator, httpx.Client(base_url=emulator.base_url, headers=AUTH) as http:
        assert http.post("/storage/v1/b", params={"project": "demo-project"}, json={"name": "held"}).status_code == 200
        data = (json.dumps(ROW) + "\n") * 30
        assert http.post("/upload/storage/v1/b/held/o", params={"uploadType": "media", "name": "t.jsonl"},
                         content=data.encode()).status_code == 200
        yield emulator, http


@pytest.mark.parametrize("uri, validation, state, examples", [
    ("gs://held/t.jsonl", None, "JOB_STATE_SUCCEEDED", "30"),                      # measured from the object
    (SAMPLE, None, "JOB_STATE_SUCCEEDED", "500"),                                  # the public sample
    ("gs://held/missing.jsonl", None, "JOB_STATE_FAILED", None),                   # a held bucket, no object
    ("gs://cloud-samples-data/nowhere.jsonl", None, "JOB_STATE_FAILED", None),     # the public bucket, no object
    ("gs://held/t.jsonl", "gs://held/missing-val.jsonl", "JOB_STATE_FAILED", None),  # the validation set counts
    ("gs://not-held/t.jsonl", None, "JOB_STATE_SUCCEEDED", None),                  # not judged
])
def test_what_a_job_reads(api, uri, validation, state, examples):
    emulator, http = api
    created = http.post(f"/v1/{PARENT}/tuningJobs", json=job(uri, validation))
    assert created.status_code == 200, created.text  # accepted either way: the data is read when the job starts
    emulator.advance(60)
    found = http.get(f"/v1/{created.json()['name']}").json()
    assert found["state"] == state, found
    if state == "JOB_STATE_FAILED":
        assert found["error"]["code"] == 3 and "Failed to read the dataset" in found["error"]["message"]
    stats = found.get("tuningDataStats", {}).get("supervisedTuningDataStats", {})
    if examples is not None:
        assert stats["tuningDatasetExampleCount"] == examples
    if uri == "gs://held/t.jsonl" and state == "JOB_STATE_SUCCEEDED":
        assert stats["totalTuningCharacterCount"] == str(30 * 22)
        assert stats["totalBillableTokenCount"] == str(-(-30 * 22 // 4) * 2)


def test_the_public_samples_are_read_only(api):
    emulator, http = api
    read = http.get("/storage/v1/b/cloud-samples-data/o/" + SAMPLE.split("cloud-samples-data/")[1].replace("/", "%2F"))
    assert read.status_code == 200 and int(read.json()["size"]) > 0
    media = http.get("/download/storage/v1/b/cloud-samples-data/o/"
                     + SAMPLE.split("cloud-samples-data/")[1].replace("/", "%2F"), params={"alt": "media"})
    assert media.status_code == 200 and len(media.content.splitlines()) == 500
    write = http.post("/upload/storage/v1/b/cloud-samples-data/o", params={"uploadType": "media", "name": "x.jsonl"},
                      content=b"{}\n")
    assert write.status_code == 403
