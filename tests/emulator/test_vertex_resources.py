"""Vertex AI models, endpoints and operations: delete ordering, patch rules, versions, LROs, drift."""

from __future__ import annotations

import pytest

from emulator_api import assert_error


def test_delete_ordering_deployed_model_refused_then_undeploy_delete_endpoint_delete_model(api):
    job = api.finished_job(supervisedTuningSpec={"trainingDatasetUri": "gs://b/t.jsonl",
                                                 "exportLastCheckpointOnly": True})
    model, endpoint = job["tunedModel"]["model"].split("@")[0], job["tunedModel"]["endpoint"]
    error = assert_error(api.vertex("DELETE", model), 400, "FAILED_PRECONDITION")
    assert endpoint in error["message"]
    assert_error(api.vertex("DELETE", endpoint), 400, "FAILED_PRECONDITION")

    deployed_id = api.vertex("GET", endpoint).json()["deployedModels"][0]["id"]
    operation = api.vertex("POST", endpoint + ":undeployModel", json={"deployed_model_id": deployed_id}).json()
    assert operation["name"].startswith(endpoint + "/operations/") and operation["done"] is True
    assert operation["metadata"]["@type"].endswith("v1.UndeployModelOperationMetadata")
    assert operation["response"] == {"@type": "type.googleapis.com/google.cloud.aiplatform.v1.UndeployModelResponse"}
    assert "deployedModels" not in api.vertex("GET", model).json()

    deleted = api.vertex("DELETE", endpoint).json()
    assert deleted["metadata"]["@type"].endswith("v1.DeleteOperationMetadata")
    assert_error(api.vertex("GET", endpoint), 404, "NOT_FOUND")
    removal = api.vertex("DELETE", model).json()
    assert removal["name"].startswith(model + "/operations/")
    assert removal["response"]["@type"] == "type.googleapis.com/google.protobuf.Empty"
    assert_error(api.vertex("GET", model), 404, "NOT_FOUND")
    assert_error(api.vertex("DELETE", model), 404, "NOT_FOUND")       # a repeated delete is 404 (treat as done)

    # the operations stay readable in every form, get and :wait
    for name in (removal["name"], deleted["name"]):
        assert api.vertex("GET", name).json() == api.vertex("POST", name + ":wait").json()
    flat = "/".join(removal["name"].split("/")[:4]) + "/operations/" + removal["name"].rsplit("/", 1)[1]
    assert api.vertex("GET", flat).json()["name"] == removal["name"]
    assert [op["name"] for op in api.vertex("GET", model + "/operations").json()["operations"]] == [removal["name"]]


def test_delete_version_rules(api):
    first = api.finished_job(supervisedTuningSpec={"trainingDatasetUri": "gs://b/t.jsonl",
                                                   "exportLastCheckpointOnly": True})
    v1 = first["tunedModel"]["model"]
    assert_error(api.vertex("DELETE", v1 + ":deleteVersion"), 400, "FAILED_PRECONDITION")     # the only version
    second = api.finished_job(baseModel=None, preTunedModel={"tunedModelName": v1})
    v2 = second["tunedModel"]["model"]
    assert v2.endswith("@2")
    assert_error(api.vertex("DELETE", v1 + ":deleteVersion"), 400, "FAILED_PRECONDITION")     # still deployed
    endpoint = first["tunedModel"]["endpoint"]
    deployed = api.vertex("GET", endpoint).json()["deployedModels"][0]["id"]
    api.vertex("POST", endpoint + ":undeployModel", json={"deployedModelId": deployed})
    operation = api.vertex("DELETE", v1 + ":deleteVersion").json()
    assert operation["done"] and operation["metadata"]["@type"].endswith("DeleteOperationMetadata")
    assert_error(api.vertex("GET", v1), 404, "NOT_FOUND")
    assert api.vertex("GET", v2.split("@")[0]).json()["versionId"] == "2"


@pytest.mark.parametrize(("suffix", "mask", "body", "status"), [
    ("", "displayName", {"displayName": "renamed"}, 200),
    ("", "display_name,description", {"displayName": "r", "description": "d"}, 200),
    ("", "labels", {"labels": {"team": "nlp"}}, 200),
    ("@1", "labels", {"labels": {"team": "nlp"}}, 200),
    ("@1", "versionDescription", {"versionDescription": "v"}, 200),
    ("", None, {"displayName": "x"}, "INVALID_ARGUMENT"),                 # updateMask is required
    ("", "etag", {"etag": "x"}, "INVALID_ARGUMENT"),
    ("", "displayName", {"displayName": ""}, "INVALID_ARGUMENT"),
    ("", "labels", {"labels": {"Bad": "x"}}, "INVALID_ARGUMENT"),
    ("", "displayName", {"displayName": "x", "bogus": 1}, "INVALID_ARGUMENT"),
    ("@1", "displayName", {"displayName": "x"}, "FAILED_PRECONDITION"),   # model field on a version name
    ("", "versionDescription", {"versionDescription": "x"}, "FAILED_PRECONDITION"),
    ("", "displayName,versionDescription", {"displayName": "x"}, "FAILED_PRECONDITION"),
    ("", "displayName", {"displayName": "x", "etag": "\"stale\""}, "ABORTED"),
])
def test_model_patch_rules(api, suffix, mask, body, status):
    model = api.finished_job(labels={"team": "support"})["tunedModel"]["model"].split("@")[0]
    params = {"updateMask": mask} if mask else {}
    response = api.vertex("PATCH", model + suffix, params=params, json=body)
    if status != 200:
        assert_error(response, {"ABORTED": 409}.get(status, 400), status)
        return
    assert response.status_code == 200, response.text
    patched = api.vertex("GET", model + suffix).json()
    for key, value in body.items():
        if key == "labels" and suffix:   # version labels: merged on read with the model's (system labels too)
            assert value.items() <= patched[key].items() and "tune-type" in patched[key]
        else:                            # a model's labels are replaced, system labels included
            assert patched[key] == value


def test_patch_read_modify_write_with_the_current_etag(api):
    model = api.finished_job()["tunedModel"]["model"].split("@")[0]
    current = api.vertex("GET", model).json()
    response = api.vertex("PATCH", model, params={"updateMask": "description"},
                          json={**current, "description": "with etag"})
    assert response.status_code == 200 and response.json()["etag"] != current["etag"]


def test_model_and_endpoint_lists_and_label_filters(api):
    api.finished_job(labels={"team": "a"}, tunedModelDisplayName="alpha")
    api.finished_job(labels={"team": "b"}, tunedModelDisplayName="beta",
                     supervisedTuningSpec={"trainingDatasetUri": "gs://b/t.jsonl", "exportLastCheckpointOnly": True})
    names = lambda r: sorted(m["displayName"] for m in r.json().get("models", []))  # noqa: E731
    assert names(api.vertex("GET", "models")) == ["alpha", "beta"]
    assert names(api.vertex("GET", "models", params={"filter": 'labels.team="b"'})) == ["beta"]
    assert names(api.vertex("GET", "models", params={"filter": "display_name=alpha"})) == ["alpha"]
    assert names(api.vertex("GET", "models", params={"filter": "base_model_name=gemini-2.5-flash"})) == ["alpha", "beta"]
    ordered = api.vertex("GET", "models", params={"orderBy": "display_name desc"}).json()["models"]
    assert [m["displayName"] for m in ordered] == ["beta", "alpha"]
    endpoints = api.vertex("GET", "endpoints", params={"filter": "labels.team=a"}).json()["endpoints"]
    assert len(endpoints) == 2 and all(e["labels"]["team"] == "a" for e in endpoints)   # main + checkpoint 1


def test_out_of_band_drift_delete_bypasses_checks_and_labels_can_be_edited(api):
    job = api.finished_job(labels={"team": "a"})
    model, endpoint = job["tunedModel"]["model"], job["tunedModel"]["endpoint"]
    assert api.admin("POST", "labels:set", {"name": model.split("@")[0], "labels": {"team": "edited"}}).json() == {}
    assert api.vertex("GET", model).json()["labels"] == {"team": "edited"}
    api.admin("POST", "resources:patch", {"name": endpoint, "displayName": "renamed"})
    assert api.vertex("GET", endpoint).json()["displayName"] == "renamed"
    assert api.admin("POST", "endpoints:delete", {"name": endpoint}).status_code == 200
    assert_error(api.vertex("GET", endpoint), 404, "NOT_FOUND")
    assert api.admin("POST", "models:delete", {"name": model.split("@")[0]}).status_code == 200   # still deployed
    assert_error(api.vertex("GET", model), 404, "NOT_FOUND")
    assert_error(api.admin("POST", "resources:delete", {"name": job["name"]}), 400, "INVALID_ARGUMENT")
    # the tuning job still names what it created: drift for a reconciler to notice
    assert api.vertex("GET", job["name"]).json()["tunedModel"]["model"] == model


def test_undeploy_unknown_deployed_model_is_404_and_missing_id_is_400(api):
    endpoint = api.finished_job()["tunedModel"]["endpoint"]
    assert_error(api.vertex("POST", endpoint + ":undeployModel", json={"deployedModelId": "1"}), 404, "NOT_FOUND")
    assert_error(api.vertex("POST", endpoint + ":undeployModel", json={}), 400, "INVALID_ARGUMENT")


def test_list_versions_and_checkpoints(api):
    model = api.finished_job()["tunedModel"]["model"]
    versions = api.vertex("GET", model.split("@")[0] + ":listVersions").json()["models"]
    assert [v["versionId"] for v in versions] == ["1"]
    checkpoints = api.vertex("GET", model + ":listCheckpoints").json()["checkpoints"]
    assert [c["checkpointId"] for c in checkpoints] == ["1", "2"]
