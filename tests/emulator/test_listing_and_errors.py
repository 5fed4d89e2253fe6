"""Pagination, filters, the error envelope for each status, auth, routing and tolerant URLs."""

from __future__ import annotations

import pytest

from emulator_api import PARENT, assert_error


@pytest.fixture
def jobs(api, emulator):
    """Five jobs: two done (team a), one cancelled (team b), two running (one unlabelled)."""
    done = [api.create_job(labels={"team": "a", "tier": "gold"}), api.create_job(labels={"team": "a"})]
    emulator.advance(61)
    cancelled = api.create_job(labels={"team": "b"})
    api.vertex("POST", cancelled["name"] + ":cancel")
    running = [api.create_job(labels={"team": "c"}), api.create_job()]
    emulator.advance(20)
    return {"done": done, "cancelled": cancelled, "running": running}


def listed(api, **params):
    response = api.vertex("GET", "tuningJobs", params=params)
    assert response.status_code == 200, response.text
    return [job["labels"].get("team", "-") if "labels" in job else "-" for job in response.json().get("tuningJobs", [])]


@pytest.mark.parametrize(("filter_text", "teams"), [
    ("labels.team=a", ["a", "a"]),
    ('labels.team="a"', ["a", "a"]),
    ("labels.tier:*", ["a"]),
    ("labels:tier", ["a"]),
    ('labels.team="a" AND labels.tier="gold"', ["a"]),
    ("labels.team=a AND labels.tier=gold", ["a"]),
    ('state="JOB_STATE_SUCCEEDED"', ["a", "a"]),
    ("state=JOB_STATE_CANCELLED", ["b"]),
    ("state!=JOB_STATE_SUCCEEDED", ["b", "c", "-"]),
    ("state=JOB_STATE_RUNNING AND labels.team:*", ["c"]),
    ("labels.team=a OR labels.team=b", ["a", "a", "b"]),
    ("NOT labels.team:*", ["-"]),
    ("-labels.team=a", ["b", "c", "-"]),
    ('display_name="support-bot" AND labels.team=b', ["b"]),
    ('create_time>"2000-01-01T00:00:00Z" AND labels.team=c', ["c"]),
    ("labels.team=zzz", []),
])
def test_job_filters(api, jobs, filter_text, teams):
    assert listed(api, filter=filter_text) == teams


@pytest.mark.parametrize("filter_text", ["labels.team=", "state=A AND", "(labels.team=a", "color=red",
                                          'create_time>"yesterday"', "labels=a"])
def test_filter_parse_errors_are_400(api, jobs, filter_text):
    assert_error(api.vertex("GET", "tuningJobs", params={"filter": filter_text}), 400, "INVALID_ARGUMENT")


def test_pagination_covers_everything_once_with_opaque_tokens(api, jobs):
    seen, token, pages = [], None, 0
    while True:
        params = {"pageSize": 2, **({"pageToken": token} if token else {})}
        body = api.vertex("GET", "tuningJobs", params=params).json()
        seen += [job["name"] for job in body["tuningJobs"]]
        pages += 1
        token = body.get("nextPageToken")
        if not token:
            break
    assert pages == 3 and len(seen) == len(set(seen)) == 5


@pytest.mark.parametrize(("params", "status"), [
    ({"pageSize": -1}, 400), ({"pageSize": "x"}, 400), ({"pageToken": "garbage!"}, 400),
    ({"pageSize": 100000}, 200), ({"pageSize": 0}, 200), ({"bogus": 1}, 400),
])
def test_page_parameter_validation(api, jobs, params, status):
    assert api.vertex("GET", "tuningJobs", params=params).status_code == status


def test_page_token_is_tied_to_the_other_parameters(api, jobs):
    token = api.vertex("GET", "tuningJobs", params={"pageSize": 1, "filter": "labels.team:*"}).json()["nextPageToken"]
    mismatched = api.vertex("GET", "tuningJobs", params={"pageSize": 1, "pageToken": token})
    assert_error(mismatched, 400, "INVALID_ARGUMENT")
    same = api.vertex("GET", "tuningJobs", params={"pageSize": 1, "pageToken": token, "filter": "labels.team:*"})
    assert same.status_code == 200          # pageSize may change between pages; the filter may not


def test_default_and_maximum_page_sizes(api, emulator):
    for _ in range(12):
        api.create_tuned_model(model_id=None)
    first = api.gemini("GET", "tunedModels").json()
    assert len(first["tunedModels"]) == 10 and first["nextPageToken"]           # Gemini default 10
    assert len(api.gemini("GET", "tunedModels", params={"pageSize": 5000}).json()["tunedModels"]) == 12


# ------------------------------------------------------------------ the error envelope, per status

def test_error_envelopes(api, emulator):
    job = api.create_job()
    cases = [
        (api.vertex("GET", "tuningJobs/999"), 404, "NOT_FOUND"),
        (api.vertex("POST", "tuningJobs", json={"bogus": 1}), 400, "INVALID_ARGUMENT"),
        (api.vertex("POST", "tuningJobs", content=b"{not json"), 400, "INVALID_ARGUMENT"),
        (api.vertex("GET", "tuningJobs", headers={"Authorization": ""}), 401, "UNAUTHENTICATED"),
        (api.vertex("DELETE", job["name"]), 404, "NOT_FOUND"),                 # no such method: no http rule
        (api.vertex("POST", "tuningJobs:rebaseTunedModel", json={}), 501, "UNIMPLEMENTED"),
    ]
    api.create_tuned_model("taken")
    cases.append((api.gemini("POST", "tunedModels", params={"tunedModelId": "taken"},
                             json={"baseModel": "models/x", "tuningTask": {"trainingData": {"examples": {
                                 "examples": [{"textInput": "a", "output": "b"}]}}}}), 409, "ALREADY_EXISTS"))
    cases.append((api.gemini("POST", "tunedModels/taken:generateContent",
                             json={"contents": [{"parts": [{"text": "hi"}]}]}), 400, "FAILED_PRECONDITION"))
    api.admin("POST", "faults", [{"path": "/v1/*/tuningJobs/*", "status": 429, "times": 1},
                                 {"path": "/v1/*/tuningJobs/*", "status": 503, "times": 1},
                                 {"path": "/v1/*/tuningJobs/*", "status": 504, "times": 1},
                                 {"path": "/v1/*/tuningJobs/*", "status": 500, "times": 1}])
    for http_status, status in ((429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED"),
                                (500, "INTERNAL")):
        cases.append((api.vertex("GET", job["name"]), http_status, status))
    for response, http_status, status in cases:
        assert_error(response, http_status, status)
        assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize(("surface", "headers", "params", "status"), [
    ("vertex", {}, {}, 401),
    ("vertex", {"Authorization": "Basic abc"}, {}, 401),
    ("vertex", {"Authorization": "Bearer"}, {}, 401),
    ("vertex", {"x-goog-api-key": "k"}, {}, 401),               # Vertex wants OAuth, not an API key
    ("vertex", {"Authorization": "Bearer anything"}, {}, 200),
    ("vertex", {}, {"access_token": "t"}, 200),
    ("gemini", {}, {}, 401),
    ("gemini", {"x-goog-api-key": "k"}, {}, 200),
    ("gemini", {}, {"key": "k"}, 200),
    ("gemini", {"Authorization": "Bearer t"}, {}, 403),          # a user's token needs a quota project
    ("gemini", {"Authorization": "Bearer t", "x-goog-user-project": "p"}, {}, 200),
])
def test_auth(api, surface, headers, params, status):
    path = f"/v1/{PARENT}/tuningJobs" if surface == "vertex" else "/v1beta/tunedModels"
    response = api.http.get(path, headers=headers, params=params)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    if status == 403:
        error = response.json()["error"]
        assert error["status"] == "PERMISSION_DENIED" and "requires a quota project" in error["message"]


def test_percent_encoded_paths_and_system_parameters_are_accepted(api):
    job = api.finished_job()
    raw = f"/v1/{job['name']}?%24alt=json%3Benum-encoding%3Dint&prettyPrint=false&alt=json&$.xgafv=2"
    response = api.http.get(raw, headers={"Authorization": "Bearer t"})
    assert response.status_code == 200 and response.json()["name"] == job["name"]
    model = job["tunedModel"]["model"].replace("@", "%40")           # '@' and ':' may arrive encoded
    assert api.http.get(f"/v1/{model}", headers={"Authorization": "Bearer t"}).json()["versionId"] == "1"
    versions = api.http.get(f"/v1/{model.split('%40')[0]}%3AlistVersions", headers={"Authorization": "Bearer t"})
    assert versions.status_code == 200 and len(versions.json()["models"]) == 1


def test_unknown_routes_are_404_in_the_envelope(api):
    for path in ("/v2/whatever", "/v1beta/corpora", "/", "/v1/projects/p"):
        response = api.http.get(path, headers={"Authorization": "Bearer t", "x-goog-api-key": "k"})
        assert_error(response, 404, "NOT_FOUND")
