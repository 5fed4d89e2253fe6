"""Fault injection, quota, latency and the rest of the admin surface."""

from __future__ import annotations

import time

import httpx
import pytest

from emulator_api import PARENT, assert_error
from reconciler.emulator import Emulator


def test_429_carries_retry_after_and_retry_info_then_recovers(api):
    rules = api.admin("POST", "faults", [{"method": "GET", "path": "/v1/*/tuningJobs", "status": 429,
                                          "retryAfterSeconds": 2, "times": 2}]).json()["faults"]
    assert rules[0]["id"] and rules[0]["remaining"] == 2
    for _ in range(2):
        response = api.vertex("GET", "tuningJobs")
        error = assert_error(response, 429, "RESOURCE_EXHAUSTED")
        assert response.headers["retry-after"] == "2"
        assert error["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]
    assert api.vertex("GET", "tuningJobs").status_code == 200
    assert api.vertex("POST", "tuningJobs", json={}).status_code == 400          # other methods never matched
    log = api.admin("GET", "requests").json()["requests"]
    assert [entry["status"] for entry in log] == [429, 429, 200, 400]
    assert log[0]["fault"] == f"error#{rules[0]['id']}"


def test_503_for_the_next_n_matching_calls_by_regex(api):
    job = api.create_job()
    api.admin("POST", "faults", {"faults": [{"pathRegex": r"tuningJobs/\d+$", "status": 503, "times": 3}]})
    statuses = [api.vertex("GET", job["name"]).status_code for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]
    assert api.admin("GET", "faults").json()["faults"][0]["hits"] == 3


def test_probability_is_deterministic_for_a_seed(api):
    def run() -> list[int]:
        api.admin("DELETE", "faults")
        api.admin("POST", "faults", {"seed": 42, "faults": [{"path": "*/tunedModels", "status": 503,
                                                            "probability": 0.5}]})
        return [api.gemini("GET", "tunedModels").status_code for _ in range(20)]

    first, second = run(), run()
    assert first == second and 503 in first and 200 in first


def test_commit_then_drop_leaves_the_mutation_committed(api, emulator):
    api.admin("POST", "faults", [{"method": "POST", "path": "*/tuningJobs", "action": "drop", "times": 1}])
    with pytest.raises(httpx.TransportError):
        api.create_job(labels={"attempt": "one"})
    jobs = api.vertex("GET", "tuningJobs", params={"filter": "labels.attempt=one"}).json()["tuningJobs"]
    assert len(jobs) == 1 and jobs[0]["state"] == "JOB_STATE_QUEUED"     # created although the client saw nothing
    assert api.create_job(labels={"attempt": "two"})["labels"] == {"attempt": "two"}
    log = emulator.requests()
    assert log[0]["status"] == 200 and log[0]["dropped"] is True


def test_latency_fault_and_latency_option(api):
    # A delay is what is tested here, so only lower bounds on wall time (a busy machine only adds to them).
    api.admin("POST", "faults", [{"path": "/v1beta/tunedModels", "latencyMs": 150, "times": 1}])
    started = time.monotonic()
    assert api.gemini("GET", "tunedModels").status_code == 200
    assert time.monotonic() - started >= 0.15
    [rule] = api.admin("GET", "faults").json()["faults"]
    assert (rule["hits"], rule["remaining"]) == (1, 0)
    [entry] = api.admin("GET", "requests").json()["requests"]
    assert entry["fault"] == f"latency#{rule['id']}"                # the emulator's own account of the delay
    assert api.gemini("GET", "tunedModels").status_code == 200
    assert "fault" not in api.admin("GET", "requests").json()["requests"][-1]   # `times: 1`: used up
    with Emulator(latency_ms=120) as slow, httpx.Client(base_url=slow.base_url) as http:
        started = time.monotonic()
        assert http.get("/v1beta/tunedModels", params={"key": "k"}).status_code == 200
        assert time.monotonic() - started >= 0.12


def test_the_admin_surface_is_never_slowed_down_nor_logged():
    # An upper bound on wall time, so a generous one: with 1.5 s of latency on every API call, an admin call
    # that took the API path would take at least 1.5 s; unslowed it takes a few milliseconds.
    with Emulator(latency_ms=1500) as slow, httpx.Client(base_url=slow.base_url) as http:
        started = time.monotonic()
        for _ in range(3):
            assert http.get("/__emulator__/health").status_code == 200
        assert time.monotonic() - started < 1.5
        assert slow.requests() == []                                   # nor does it enter the request log


def test_quota_rps_answers_429_with_retry_after():
    # A token bucket of 5 requests/s with a burst of 5: the first 5 calls always pass, then at most one more per
    # 0.2 s of wall time. Calls go on until the first 429 (bounded), so no assertion depends on the calls being
    # fast; the count of accepted calls is checked against the bucket's bound for the time they really took.
    started = time.monotonic()
    with Emulator(quota_rps=5) as limited, httpx.Client(base_url=limited.base_url) as http:
        answers: list[httpx.Response] = []
        while len(answers) < 200 and (not answers or answers[-1].status_code != 429):
            answers.append(http.get("/v1beta/tunedModels", params={"key": "k"}))
        elapsed = time.monotonic() - started
        statuses = [r.status_code for r in answers]
        assert statuses[:5] == [200] * 5 and statuses[-1] == 429 and set(statuses) == {200, 429}, statuses
        assert statuses.count(200) <= 5 + 5 * elapsed + 1, (statuses, elapsed)
        refused = answers[-1]
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["details"][0]["@type"].endswith("google.rpc.RetryInfo")
        log = limited.requests()
        assert [e["status"] for e in log] == statuses
        assert [e.get("fault") for e in log] == [None] * (len(statuses) - 1) + ["quota"]
        assert http.get("/__emulator__/health").status_code == 200          # admin calls are not metered
        assert len(limited.requests()) == len(statuses)                     # nor logged


@pytest.mark.parametrize("rule", [
    {"status": 418}, {"action": "explode"}, {"probability": 2, "status": 503}, {"pathRegex": "(", "status": 503},
    {"path": "*", "colour": "red", "status": 503}, "not-an-object",
])
def test_invalid_fault_rules_are_400(api, rule):
    assert_error(api.admin("POST", "faults", [rule]), 400, "INVALID_ARGUMENT")


def test_request_log_clock_and_reset(api, emulator):
    api.create_job()
    api.vertex("GET", "tuningJobs", params={"pageSize": 5})
    api.admin("GET", "clock")
    log = api.admin("GET", "requests").json()["requests"]
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in log] == [
        ("POST", f"/v1/{PARENT}/tuningJobs", "", 200), ("GET", f"/v1/{PARENT}/tuningJobs", "pageSize=5", 200)]
    assert all(e["time"].endswith("Z") for e in log)
    before = api.admin("GET", "clock").json()["offsetSeconds"]
    advanced = api.admin("POST", "clock:advance", {"seconds": 90}).json()
    assert advanced["offsetSeconds"] == before + 90
    assert_error(api.admin("POST", "clock:advance", {"seconds": -1}), 400, "INVALID_ARGUMENT")
    api.admin("POST", "faults", [{"status": 503}])
    assert api.admin("POST", "reset").json() == {}
    assert api.vertex("GET", "tuningJobs").json() == {}
    assert api.admin("GET", "faults").json()["faults"] == []
    assert len(api.admin("GET", "requests").json()["requests"]) == 1
    assert api.admin("DELETE", "requests").json() == {} and emulator.requests() == []


@pytest.mark.parametrize(("route", "body", "status"), [
    ("resources:fail", {"name": "projects/p/locations/us-central1/tuningJobs/1"}, 404),
    ("resources:fail", {}, 400),
    ("resources:fail", {"name": "projects/p/locations/us-central1/models/1"}, 400),
    ("resources:delete", {"name": "tunedModels/none"}, 404),
    ("resources:patch", {"name": "tunedModels/none", "colour": "red"}, 400),
    ("resources:ignoreCancel", {"name": "tunedModels/x"}, 400),
    ("resources:explode", {"name": "x"}, 404),
    ("nothing-here", None, 404),
])
def test_admin_errors(api, route, body, status):
    assert api.admin("POST", route, body).status_code == status


def test_out_of_band_fail_of_a_finished_job_is_refused(api):
    job = api.finished_job()
    assert_error(api.admin("POST", "tuningJobs:fail", {"name": job["name"]}), 400, "FAILED_PRECONDITION")
