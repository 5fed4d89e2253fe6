"""Vertex AI tuningJobs over raw HTTP: lifecycle on the virtual clock, create validation, tolerant input."""

from __future__ import annotations

import pytest

from emulator_api import PROJECT, assert_error, violations
from reconciler.emulator.names import project_number

NUMBER = project_number(PROJECT)


# The virtual clock is wall time plus the offset, so real seconds pass between create and GET as well: every
# point sits at least 5 s before the next state change (QUEUED < 6 s, PENDING < 12 s, RUNNING < 60 s).
@pytest.mark.parametrize(("elapsed", "state"), [
    (0, "JOB_STATE_QUEUED"), (7, "JOB_STATE_PENDING"), (13, "JOB_STATE_RUNNING"),
    (55, "JOB_STATE_RUNNING"), (61, "JOB_STATE_SUCCEEDED"),
])
def test_lifecycle_follows_the_virtual_clock(api, emulator, elapsed, state):
    job = api.create_job()
    emulator.advance(elapsed)
    got = api.vertex("GET", job["name"]).json()
    assert got["state"] == state
    assert ("startTime" in got) == (elapsed >= 12)
    assert ("endTime" in got) == (state == "JOB_STATE_SUCCEEDED")
    assert ("tunedModel" in got) == (state == "JOB_STATE_SUCCEEDED")


def test_success_materialises_model_endpoints_and_checkpoints(api):
    job = api.finished_job(labels={"team": "support", "managed-by": "reconciler"})
    tuned = job["tunedModel"]
    assert tuned["model"].startswith(f"projects/{NUMBER}/locations/us-central1/models/") and tuned["model"].endswith("@1")
    checkpoints = tuned["checkpoints"]
    assert [(c["checkpointId"], c["epoch"]) for c in checkpoints] == [("1", "1"), ("2", "2")]
    assert checkpoints[-1]["endpoint"] == tuned["endpoint"] and checkpoints[0]["endpoint"] != tuned["endpoint"]
    stats = job["tuningDataStats"]["supervisedTuningDataStats"]
    assert all(isinstance(stats[k], str) for k in ("tuningDatasetExampleCount", "tuningStepCount"))
    assert job["supervisedTuningSpec"]["hyperParameters"]["epochCount"] == "2"    # int64 written as a string

    model = api.vertex("GET", tuned["model"]).json()
    assert model["displayName"] == "support-bot" and model["versionId"] == "1"
    # the job's labels, and the system labels the service adds (the SDKs read them; see versions.py)
    system = {"google-vertex-llm-tuning-base-model-id": "gemini-2_5-flash",
              "google-vertex-llm-tuning-job-id": job["name"].rsplit("/", 1)[1]}
    assert model["labels"] == {"team": "support", "managed-by": "reconciler", **system, "tune-type": "sft"}
    assert {ref["endpoint"] for ref in model["deployedModels"]} == {c["endpoint"] for c in checkpoints}
    endpoint = api.vertex("GET", tuned["endpoint"]).json()
    assert endpoint["labels"] == {"team": "support", "managed-by": "reconciler", **system}
    deployed = endpoint["deployedModels"][0]
    assert deployed["id"].isdigit() and deployed["model"] == tuned["model"]
    assert endpoint["trafficSplit"] == {deployed["id"]: 100}


def test_export_last_checkpoint_only_creates_a_single_endpoint(api):
    job = api.finished_job(supervisedTuningSpec={"trainingDatasetUri": "gs://b/t.jsonl",
                                                 "exportLastCheckpointOnly": True})
    assert "checkpoints" not in job["tunedModel"]
    endpoints = api.vertex("GET", "endpoints").json()["endpoints"]
    assert [e["name"] for e in endpoints] == [job["tunedModel"]["endpoint"]]


def test_continuous_tuning_same_name_adds_version_other_name_makes_new_model(api):
    first = api.finished_job()
    source = first["tunedModel"]["model"]
    same = api.finished_job(baseModel=None, preTunedModel={"tuned_model_name": source, "checkpoint_id": "2"},
                            tunedModelDisplayName="support-bot")
    assert same["tunedModel"]["model"] == source.replace("@1", "@2")
    assert same["preTunedModel"]["baseModel"] == "gemini-2.5-flash"
    other = api.finished_job(baseModel=None, preTunedModel={"tunedModelName": source}, tunedModelDisplayName="other")
    assert other["tunedModel"]["model"].split("@")[0] != source.split("@")[0]
    assert other["tunedModel"]["model"].endswith("@1")
    versions = api.vertex("GET", source.split("@")[0] + ":listVersions").json()["models"]
    assert [v["versionId"] for v in versions] == ["1", "2"]
    assert versions[1]["versionAliases"] == ["default"]


def test_cancel_and_fail_and_a_cancel_that_does_not_take(api, emulator):
    cancelled, failed, stubborn = api.create_job(), api.create_job(), api.create_job()
    assert api.vertex("POST", cancelled["name"] + ":cancel").json() == {}
    assert api.admin("POST", "tuningJobs:fail", {"name": failed["name"], "message": "quota"}).status_code == 200
    assert api.admin("POST", "resources:ignoreCancel", {"name": stubborn["name"]}).status_code == 200
    assert api.vertex("POST", stubborn["name"] + ":cancel", json={}).status_code == 200
    emulator.advance(6)
    assert api.vertex("GET", cancelled["name"]).json()["error"]["code"] == 1
    assert api.vertex("GET", failed["name"]).json()["state"] == "JOB_STATE_FAILED"
    assert api.vertex("GET", failed["name"]).json()["error"] == {"code": 13, "message": "quota"}
    assert api.vertex("GET", stubborn["name"]).json()["state"] == "JOB_STATE_CANCELLING"
    emulator.advance(60)
    assert api.vertex("GET", stubborn["name"]).json()["state"] == "JOB_STATE_SUCCEEDED"
    for name in (cancelled["name"], failed["name"], stubborn["name"]):
        assert_error(api.vertex("POST", name + ":cancel"), 400, "FAILED_PRECONDITION")


VALID = {"baseModel": "gemini-2.5-flash", "supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t.jsonl"}}


@pytest.mark.parametrize(("change", "field"), [
    ({"epochs": 3}, "tuning_job"),
    ({"supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t.jsonl", "hyperParameters": {"batchSize": 4}}},
     "tuning_job.supervised_tuning_spec.hyper_parameters"),                            # v1 has no batchSize
    ({"supervisedTuningSpec": {}}, "tuning_job.supervised_tuning_spec.training_dataset_uri"),
    ({"supervisedTuningSpec": {"trainingDatasetUri": "http://x"}}, "tuning_job.supervised_tuning_spec.training_dataset_uri"),
    ({"baseModel": None}, "tuning_job.base_model"),
    ({"preTunedModel": {"tunedModelName": "projects/p/locations/us-central1/models/1"}}, "tuning_job.base_model"),
    ({"supervisedTuningSpec": None}, "tuning_job.supervised_tuning_spec"),
    ({"supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t.jsonl", "hyperParameters": {"adapterSize": "HUGE"}}},
     "tuning_job.supervised_tuning_spec.hyper_parameters.adapter_size"),
    ({"supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t.jsonl", "hyperParameters": {"epochCount": "x"}}},
     "tuning_job.supervised_tuning_spec.hyper_parameters.epoch_count"),
    ({"supervisedTuningSpec": {"trainingDatasetUri": "gs://b/t.jsonl", "hyperParameters": {"epochCount": 0}}},
     "tuning_job.supervised_tuning_spec.hyper_parameters.epoch_count"),
    ({"tunedModelDisplayName": "x" * 129}, "tuning_job.tuned_model_display_name"),
    ({"labels": {"Team": "a"}}, "tuning_job.labels['Team']"),
    ({"labels": {"team": "A B"}}, "tuning_job.labels['team']"),
    ({"labels": {"team": "v" * 65}}, "tuning_job.labels['team']"),
    ({"labels": {"1team": "a"}}, "tuning_job.labels['1team']"),
    ({"labels": {"aiplatform.googleapis.com/x": "a"}}, "tuning_job.labels['aiplatform.googleapis.com/x']"),
    ({"labels": {f"k{i}": "v" for i in range(65)}}, "tuning_job.labels"),
    ({"encryptionSpec": {"kmsKeyName": "projects/p/locations/europe-west4/keyRings/r/cryptoKeys/k"}},
     "tuning_job.encryption_spec.kms_key_name"),
    ({"serviceAccount": "not-an-email"}, "tuning_job.service_account"),
    ({"description": 7}, "tuning_job.description"),
])
def test_create_validation_is_400_with_field_violations(api, change, field):
    body = {**VALID, **change}
    body = {k: v for k, v in body.items() if v is not None}
    response = api.vertex("POST", "tuningJobs", json=body)
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert field in violations(response)


@pytest.mark.parametrize("labels", [{"team": "support"}, {"a_b-c": ""}, {"équipe": "données"}, {"k": "1"}])
def test_valid_labels_are_accepted(api, labels):
    assert api.vertex("POST", "tuningJobs", json={**VALID, "labels": labels}).status_code == 200


def test_tolerant_input_snake_case_enum_numbers_int64_strings_and_output_only_fields(api):
    body = {"base_model": "gemini-2.5-flash", "tuned_model_display_name": "snake",
            "supervised_tuning_spec": {"training_dataset_uri": "gs://b/t.jsonl",
                                       "hyper_parameters": {"epoch_count": "4", "adapter_size": 2,
                                                            "learning_rate_multiplier": "0.5"}},
            "encryption_spec": {"kms_key_name": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"},
            "state": 4, "createTime": "2020-01-01T00:00:00Z"}                  # output only: ignored
    job = api.vertex("POST", "tuningJobs", json=body, params={"$alt": "json;enum-encoding=int"}).json()
    hyper = job["supervisedTuningSpec"]["hyperParameters"]
    assert hyper == {"epochCount": "4", "adapterSize": "ADAPTER_SIZE_FOUR", "learningRateMultiplier": 0.5}
    assert job["state"] == "JOB_STATE_QUEUED" and job["tunedModelDisplayName"] == "snake"
    assert job["encryptionSpec"]["kmsKeyName"].endswith("cryptoKeys/k")


def test_v1beta1_accepts_batch_size_and_learning_rate(api):
    job = api.create_job(version="v1beta1", supervisedTuningSpec={
        "trainingDatasetUri": "gs://b/t.jsonl", "tuningMode": 2,
        "hyperParameters": {"batchSize": 8, "learningRate": 0.0002}})
    assert job["supervisedTuningSpec"]["hyperParameters"] == {"batchSize": "8", "learningRate": 0.0002}
    assert job["supervisedTuningSpec"]["tuningMode"] == "TUNING_MODE_PEFT_ADAPTER"
    through_v1 = api.vertex("GET", job["name"]).json()["supervisedTuningSpec"]
    assert through_v1 == {"trainingDatasetUri": "gs://b/t.jsonl", "hyperParameters": {}}   # v1 lacks those fields


def test_names_use_the_project_number_and_accept_either_form(api):
    job = api.create_job()
    assert job["name"].startswith(f"projects/{NUMBER}/")
    by_id = job["name"].replace(NUMBER, PROJECT)
    assert api.vertex("GET", by_id).json()["name"] == job["name"]


def test_zero_job_duration_finishes_at_once(emulator):
    from reconciler.emulator import Emulator

    import httpx

    with Emulator(job_duration=0) as instant, httpx.Client(base_url=instant.base_url) as http:
        response = http.post("/v1/projects/p/locations/us-central1/tuningJobs", json=VALID,
                             headers={"Authorization": "Bearer t"})
        assert response.json()["state"] == "JOB_STATE_SUCCEEDED" and "tunedModel" in response.json()
