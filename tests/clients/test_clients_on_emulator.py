"""The clients and the shared policy against the real emulator over HTTP: pagination, injected 429/503
faults and dropped connections, error translation, and the operation calls of a full delete."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from reconciler.clients.auth import ApiKey, BearerToken
from reconciler.clients.gemini import GeminiClient
from reconciler.clients.http import RetryPolicy
from reconciler.clients.vertex import VertexClient
from reconciler.emulator import Emulator
from reconciler.errors import (AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted,
                               TransportError, Unavailable)

PARENT = "projects/acme/locations/us-central1"
OWNED = {"managed-by": "reconciler", "reconciler-name": "bot", "reconciler-digest": "0123456789ab"}


def job_body(i: int = 0, **labels: str) -> dict:
    return {"baseModel": "gemini-2.5-flash", "tunedModelDisplayName": f"bot {i}",
            "supervisedTuningSpec": {"trainingDatasetUri": "gs://acme/train.jsonl",
                                     "hyperParameters": {"epochCount": 2}},
            "labels": {**OWNED, **labels}}


def tuned_body() -> dict:
    return {"baseModel": "models/gemini-1.5-flash-001-tuning", "displayName": "math bot",
            "tuningTask": {"trainingData": {"examples": {"examples": [{"textInput": "2+2?", "output": "4"}]}},
                           "hyperparameters": {"epochCount": 1, "batchSize": 1, "learningRate": 0.001}}}


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def vertex(emulator: Emulator, sleeps: list[float]) -> Iterator[VertexClient]:
    with httpx.Client(auth=BearerToken("any-token"), timeout=10) as http:
        yield VertexClient(http, endpoint=emulator.base_url, sleep=sleeps.append,
                           policy=RetryPolicy(max_attempts=4))


@pytest.fixture
def gemini(emulator: Emulator, sleeps: list[float]) -> Iterator[GeminiClient]:
    with httpx.Client(auth=ApiKey("any-key"), timeout=10) as http:
        yield GeminiClient(http, endpoint=emulator.base_url, sleep=sleeps.append)


def api_calls(emulator: Emulator, method: str | None = None, contains: str = "") -> list[dict]:
    return [r for r in emulator.requests() if (method is None or r["method"] == method) and contains in r["path"]]


def test_listing_follows_several_pages(emulator, vertex):
    created = [vertex.create_tuning_job(PARENT, job_body(i)) for i in range(7)]
    vertex.create_tuning_job(PARENT, job_body(99, **{"managed-by": "someone-else"}))
    emulator.clear_requests()
    listed = list(vertex.list_tuning_jobs(PARENT, 'labels.managed-by="reconciler"', page_size=2))
    assert sorted(j["name"] for j in listed) == sorted(j["name"] for j in created)
    assert len(api_calls(emulator, "GET", "/tuningJobs")) == 4


def test_a_503_on_a_read_is_retried(emulator, vertex, sleeps):
    job = vertex.create_tuning_job(PARENT, job_body())
    emulator.add_faults([{"method": "GET", "path": "*/tuningJobs/*", "status": 503, "times": 2}])
    assert vertex.get_tuning_job(job["name"])["name"] == job["name"]
    assert [r["status"] for r in api_calls(emulator, "GET")] == [503, 503, 200]
    assert len(sleeps) == 2


def test_a_429_waits_at_least_the_servers_retry_after(emulator, vertex, sleeps):
    emulator.add_faults([{"method": "GET", "path": "*/tuningJobs", "status": 429, "retryAfterSeconds": 3, "times": 1}])
    assert list(vertex.list_tuning_jobs(PARENT)) == []
    assert sleeps == [3.0]


def test_retries_give_up_after_max_attempts(emulator, vertex):
    emulator.add_faults([{"method": "GET", "status": 503}])
    with pytest.raises(Unavailable):
        vertex.get_tuning_job(f"{PARENT}/tuningJobs/1")
    assert len(api_calls(emulator, "GET")) == 4


def test_a_create_is_not_retried_on_503(emulator, vertex):
    emulator.add_faults([{"method": "POST", "path": "*/tuningJobs", "status": 503}])
    with pytest.raises(Unavailable):
        vertex.create_tuning_job(PARENT, job_body())
    assert len(api_calls(emulator, "POST")) == 1
    emulator.clear_faults()
    assert list(vertex.list_tuning_jobs(PARENT)) == []


def test_a_create_is_not_retried_on_429_either(emulator, gemini):
    emulator.add_faults([{"method": "POST", "path": "/v1beta/tunedModels", "status": 429}])
    with pytest.raises(ResourceExhausted) as caught:
        gemini.create_tuned_model(tuned_body(), "math-bot-0123abcd")
    assert caught.value.retry_delay == 1.0 and len(api_calls(emulator, "POST")) == 1


def test_a_create_whose_answer_is_lost_is_a_transport_error_and_the_job_exists(emulator, vertex):
    emulator.add_faults([{"method": "POST", "path": "*/tuningJobs", "action": "drop", "times": 1}])
    with pytest.raises(TransportError, match="outcome is unknown"):
        vertex.create_tuning_job(PARENT, job_body())
    assert len(api_calls(emulator, "POST")) == 1
    # The server did commit it: this is why the caller lists by label before creating again.
    assert len(list(vertex.list_tuning_jobs(PARENT, 'labels.managed-by="reconciler"'))) == 1


def test_a_dropped_read_is_retried(emulator, vertex):
    job = vertex.create_tuning_job(PARENT, job_body())
    emulator.add_faults([{"method": "GET", "action": "drop", "times": 1}])
    assert vertex.get_tuning_job(job["name"])["name"] == job["name"]


def test_errors_are_translated(emulator, vertex, gemini):
    with pytest.raises(NotFound) as caught:
        vertex.get_tuning_job(f"{PARENT}/tuningJobs/123")
    assert caught.value.http_status == 404 and caught.value.url.endswith(f"{PARENT}/tuningJobs/123")
    with pytest.raises(InvalidArgument):
        vertex.create_tuning_job(PARENT, {"baseModel": "gemini-2.5-flash"})
    job = vertex.create_tuning_job(PARENT, job_body())
    emulator.advance(61)
    with pytest.raises(FailedPrecondition, match="already in state JOB_STATE_SUCCEEDED"):
        vertex.cancel_tuning_job(job["name"])
    with pytest.raises(FailedPrecondition):
        vertex.delete_model(vertex.get_tuning_job(job["name"])["tunedModel"]["model"].split("@")[0])
    gemini.create_tuned_model(tuned_body(), "math-bot-0123abcd")
    with pytest.raises(AlreadyExists):
        gemini.create_tuned_model(tuned_body(), "math-bot-0123abcd")


def test_the_api_key_never_reaches_an_error_message(emulator, gemini):
    with httpx.Client(auth=ApiKey("AIza-very-secret-key"), timeout=10) as http:
        client = GeminiClient(http, endpoint=emulator.base_url)
        with pytest.raises(NotFound) as caught:
            client.get_tuned_model("tunedModels/nothing-here")
    assert "AIza-very-secret-key" not in str(caught.value) + repr(caught.value) + repr(client)


def test_deleting_what_a_job_created(emulator, vertex):
    job = vertex.create_tuning_job(PARENT, job_body())
    emulator.advance(61)
    tuned = vertex.get_tuning_job(job["name"])["tunedModel"]
    model = vertex.get_model(tuned["model"])
    endpoints = {d["endpoint"] for d in model.get("deployedModels", [])} | {tuned["endpoint"]}
    for name in sorted(endpoints):
        endpoint = vertex.get_endpoint(name)
        for deployed in endpoint.get("deployedModels", []):
            vertex.wait_operation(vertex.undeploy_model(name, deployed["id"]), timeout=5)
        vertex.wait_operation(vertex.delete_endpoint(name), timeout=5)
    vertex.wait_operation(vertex.delete_model(model["name"]), timeout=5)
    with pytest.raises(NotFound):
        vertex.get_model(tuned["model"])
    with pytest.raises(NotFound):  # a repeated delete: the caller treats NotFound as done
        vertex.delete_model(model["name"])


def test_patch_model_with_an_update_mask(emulator, vertex):
    vertex.create_tuning_job(PARENT, job_body())
    emulator.advance(61)
    model = next(iter(vertex.list_models(PARENT, 'labels.managed-by="reconciler"')))
    patched = vertex.patch_model(model["name"], {"displayName": "Renamed", "description": "new"},
                                 ["displayName", "description"])
    assert (patched["displayName"], patched["description"]) == ("Renamed", "new")


def test_gemini_lifecycle(emulator, gemini):
    operation = gemini.create_tuned_model(tuned_body(), "math-bot-0123abcd")
    assert gemini.get_operation(operation["name"])["name"] == operation["name"]
    assert gemini.get_tuned_model("tunedModels/math-bot-0123abcd")["state"] == "CREATING"
    emulator.advance(61)
    assert gemini.wait_operation(operation, timeout=5)["done"] is True
    patched = gemini.patch_tuned_model("tunedModels/math-bot-0123abcd", {"description": "d", "temperature": 0.3},
                                       ["description", "temperature"])
    assert (patched["description"], patched["temperature"]) == ("d", 0.3)
    for i in range(5):
        gemini.create_tuned_model(tuned_body(), f"more-bot-{i}")
    emulator.clear_requests()
    assert len(list(gemini.list_tuned_models(page_size=2))) == 6
    assert len(api_calls(emulator, "GET", "/tunedModels")) == 3
    gemini.delete_tuned_model("tunedModels/math-bot-0123abcd")
    with pytest.raises(NotFound):
        gemini.delete_tuned_model("tunedModels/math-bot-0123abcd")
