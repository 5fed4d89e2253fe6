"""List pages are served from renderings kept until the state changes (reconciler/emulator/rendering.py): a
repeated read gives the same bytes, every kind of change shows at once, and nothing that moves with the virtual
clock (a job on its way) is served stale. The reply is byte for byte the plain JSON encoding of its body."""

from __future__ import annotations

import json

from reconciler.emulator.rendering import Rendered, dumps, payload
from reconciler.emulator.rpc import Reply

from emulator_api import PARENT


def plain(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def page(api, collection, version="v1", **params):
    response = api.vertex("GET", collection, version=version, params=params)
    assert response.status_code == 200, response.text
    return response


def test_encoding_is_the_plain_json_encoding():
    values = [{}, [], "", "é ✓ \u2028 \"quoted\" \\ \n\t", 0, -1, 2**70, 1.5, -0.0, 1e-7, None, True,
              {"nested": [{"a": 1}, ["b", None]], "ünïcode": "ключ"}]
    for value in values:
        assert dumps(value) == plain(value)
    views = [{"name": "a", "labels": {"k": "v"}}, {"name": "ß"}]
    body = {"models": Rendered(views, [dumps(v) for v in views]), "nextPageToken": "t"}
    assert payload(body) == plain(body) == Reply(200, body).payload()
    assert payload({"models": Rendered([], [])}) == b'{"models":[]}'


def test_a_repeated_read_is_the_same_bytes_and_a_change_shows_at_once(api):
    job = api.finished_job(labels={"team": "a"}, supervisedTuningSpec={"trainingDatasetUri": "gs://b/t.jsonl",
                                                                       "exportLastCheckpointOnly": True})
    model, endpoint = job["tunedModel"]["model"].split("@")[0], job["tunedModel"]["endpoint"]
    for collection in ("tuningJobs", "models", "endpoints"):
        first = page(api, collection, filter="labels.team=a")
        assert len(first.json()[collection]) == 1
        assert page(api, collection, filter="labels.team=a").content == first.content

    api.vertex("PATCH", model, params={"updateMask": "labels"}, json={"labels": {"team": "b"}})
    assert page(api, "models", filter="labels.team=a").json() == {}
    assert page(api, "models", filter="labels.team=b").json()["models"][0]["labels"] == {"team": "b"}

    assert api.admin("POST", "labels:set", {"name": job["name"], "labels": {"team": "c"}}).json() == {}
    assert page(api, "tuningJobs").json()["tuningJobs"][0]["labels"] == {"team": "c"}
    assert page(api, "tuningJobs", filter="labels.team=a").json() == {}

    deployed = page(api, "models").json()["models"][0]["deployedModels"]
    assert [d["endpoint"] for d in deployed] == [endpoint]
    deployed_id = api.vertex("GET", endpoint).json()["deployedModels"][0]["id"]
    api.vertex("POST", endpoint + ":undeployModel", json={"deployedModelId": deployed_id})
    assert "deployedModels" not in page(api, "models").json()["models"][0]       # another resource's change
    assert "deployedModels" not in page(api, "endpoints").json()["endpoints"][0]
    api.vertex("DELETE", endpoint)
    assert page(api, "endpoints").json() == {}


def test_jobs_on_their_way_are_never_served_stale(api, emulator):
    job = api.create_job(labels={"team": "a"})
    seen = []
    for _ in range(5):
        listed = page(api, "tuningJobs", filter="labels.team=a").json()["tuningJobs"][0]
        running = page(api, "tuningJobs", filter="state=JOB_STATE_RUNNING").json().get("tuningJobs", [])
        seen.append((listed["state"], listed.get("endTime"), [j["name"] for j in running]))
        emulator.advance(15)
    assert seen == [("JOB_STATE_QUEUED", None, []), ("JOB_STATE_RUNNING", None, [job["name"]]),
                    ("JOB_STATE_RUNNING", None, [job["name"]]), ("JOB_STATE_RUNNING", None, [job["name"]]),
                    ("JOB_STATE_SUCCEEDED", listed["endTime"], [])]
    assert listed["endTime"] and page(api, "tuningJobs").json()["tuningJobs"][0] == listed


def test_each_api_version_keeps_its_own_view_of_a_job(api, emulator):
    body = {"baseModel": "gemini-2.5-flash", "tunedModelDisplayName": "beta-bot",
            "supervisedTuningSpec": {"trainingDatasetUri": "gs://bucket/train.jsonl",
                                     "tuningMode": "TUNING_MODE_FULL"}}
    assert api.vertex("POST", "tuningJobs", version="v1beta1", json=body).status_code == 200
    emulator.advance(61)
    for _ in range(2):
        beta = page(api, "tuningJobs", version="v1beta1").json()["tuningJobs"][0]
        assert beta["supervisedTuningSpec"]["tuningMode"] == "TUNING_MODE_FULL"
        assert "tuningMode" not in page(api, "tuningJobs").json()["tuningJobs"][0]["supervisedTuningSpec"]


def test_pages_of_a_kept_selection_still_check_their_token(api):
    for _ in range(3):
        api.finished_job(labels={"team": "a"})
    first = page(api, "models", pageSize=2, filter="labels.team=a").json()
    assert len(first["models"]) == 2 and first["nextPageToken"]
    rest = page(api, "models", pageSize=2, filter="labels.team=a", pageToken=first["nextPageToken"]).json()
    assert len(rest["models"]) == 1 and "nextPageToken" not in rest
    other = api.vertex("GET", f"{PARENT}/models", params={"pageToken": first["nextPageToken"]})
    assert other.status_code == 400
