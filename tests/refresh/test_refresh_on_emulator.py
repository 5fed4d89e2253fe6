"""refresh() against the real emulator over HTTP: request counts, drift, phases, faults."""

from __future__ import annotations

import httpx
import pytest

from reconciler.clients.http import RetryPolicy
from reconciler.emulator import Emulator
from reconciler.platforms.connect import connect
from reconciler.refresh import refresh
from tests.testing.claims import claims

PROJECT, LOCATION = "acme", "us-central1"
PARENT = f"projects/{PROJECT}/locations/{LOCATION}"
VERTEX_SCOPE = ("vertex", PROJECT, LOCATION)
GEMINI_SCOPE = ("gemini-api", None, None)


def job_body(name: str, digest: str = "0123456789ab", **extra) -> dict:
    return {"baseModel": "gemini-2.5-flash", "tunedModelDisplayName": name, "description": f"{name} bot",
            "supervisedTuningSpec": {"trainingDatasetUri": "gs://acme/train.jsonl",
                                     "hyperParameters": {"epochCount": 2}, "exportLastCheckpointOnly": True},
            "labels": {"managed-by": "reconciler", "reconciler-name": name, "reconciler-digest": digest,
                       "reconciler-intent": f"intent-{name}", "team": "support"}, **extra}


def tuned_body(name: str) -> dict:
    return {"baseModel": "models/gemini-1.5-flash-001-tuning", "displayName": name,
            "tuningTask": {"trainingData": {"examples": {"examples": [{"textInput": "2+2?", "output": "4"}]}},
                           "hyperparameters": {"epochCount": 2, "batchSize": 1, "learningRate": 0.001}}}


@pytest.fixture
def clients(emulator):
    with connect({"vertex", "gemini-api"}, api_endpoint=emulator.base_url, emulator=True, env={},
                 policy=RetryPolicy(initial_delay=0.001, max_delay=0.01)) as connected:
        yield connected


def admin(emulator: Emulator, route: str, body: dict) -> None:
    response = httpx.post(f"{emulator.base_url}/__emulator__/{route}", json=body)
    assert response.status_code == 200, response.text


def api_requests(emulator: Emulator) -> list[dict]:
    return emulator.requests()


def read(clients, model_ids=(), lock_keys=(), scopes=(VERTEX_SCOPE, GEMINI_SCOPE)):
    """lock_keys: tuning jobs of `bot`, or -> their manifest names."""
    recorded = lock_keys if isinstance(lock_keys, dict) else {key: "bot" for key in lock_keys}
    return refresh(scopes, claims(*model_ids, recorded=recorded), clients)


@pytest.mark.parametrize("n", [3, 30])
def test_request_count_does_not_grow_with_resources(emulator, clients, n):
    jobs = [clients["vertex"].create_tuning_job(PARENT, job_body(f"bot-{i}")) for i in range(n)]
    for i in range(n):
        clients["gemini-api"].create_tuned_model(tuned_body(f"gem-{i}"), f"gem-{i}-0123abcd")
    emulator.advance(61)
    emulator.clear_requests()
    lock_keys = {**{j["name"]: f"bot-{i}" for i, j in enumerate(jobs)},
                 **{f"tunedModels/gem-{i}-0123abcd": f"gem-{i}" for i in range(n)}}
    state = read(clients, lock_keys=lock_keys)
    assert len(state.generations) == 2 * n
    assert all(g.phase == "succeeded" and g.model_exists for g in state.generations)
    # tuningJobs, models, endpoints (one page each) and tunedModels (one page): 4 requests for any n.
    assert len(api_requests(emulator)) == 4


def test_request_count_grows_with_pages(emulator, clients):
    clients["vertex"].page_size = 4
    for i in range(10):
        clients["vertex"].create_tuning_job(PARENT, job_body(f"bot-{i}"))
    emulator.advance(61)
    emulator.clear_requests()
    state = read(clients, scopes=[VERTEX_SCOPE])
    assert len(state.generations) == 10
    assert len(api_requests(emulator)) == 3 * 3  # 10 jobs, 10 models, 10 endpoints: 3 pages of 4 each


def test_a_succeeded_job_joined_with_its_model_and_endpoints(emulator, clients):
    job = clients["vertex"].create_tuning_job(PARENT, job_body("support-bot",
                                                            supervisedTuningSpec={
                                                                "trainingDatasetUri": "gs://acme/train.jsonl",
                                                                "hyperParameters": {"epochCount": 3}}))
    emulator.advance(61)
    tuned = clients["vertex"].get_tuning_job(job["name"])["tunedModel"]
    generation = read(clients).of("support-bot")[0]
    assert generation.job == job["name"] and generation.model == tuned["model"] and generation.model_exists
    checkpoint_endpoints = {c["endpoint"] for c in tuned.get("checkpoints", [])}
    assert set(generation.endpoints) == {tuned["endpoint"]} | checkpoint_endpoints
    assert len(generation.endpoints) == 3  # three epochs: three checkpoints, each served somewhere
    # the live labels as read: without the ownership labels, with the service's system labels (the planner
    # compares only the keys this tool owns)
    assert generation.live == {"displayName": "support-bot", "description": "support-bot bot",
                               "labels": {"team": "support", "tune-type": "sft",
                                          "google-vertex-llm-tuning-base-model-id": "gemini-2_5-flash",
                                          "google-vertex-llm-tuning-job-id": job["name"].rsplit("/", 1)[1]}}
    assert (generation.digest, generation.intent, generation.phase) == ("0123456789ab", "intent-support-bot",
                                                                        "succeeded")


def test_a_running_job_and_its_progress_to_success(emulator, clients):
    clients["vertex"].create_tuning_job(PARENT, job_body("bot"))
    emulator.advance(30)                       # 60-second jobs: RUNNING from 12 s to 60 s of virtual time
    running = read(clients).of("bot")[0]
    assert running.phase == "running" and running.model is None
    emulator.advance(31)
    assert read(clients).of("bot")[0].phase == "succeeded"


def test_a_model_deleted_out_of_band_is_reported_missing(emulator, clients):
    job = clients["vertex"].create_tuning_job(PARENT, job_body("bot"))
    emulator.advance(61)
    model = clients["vertex"].get_tuning_job(job["name"])["tunedModel"]["model"]
    admin(emulator, "resources:delete", {"name": model.split("@")[0]})
    generation = read(clients, lock_keys=[job["name"]]).of("bot")[0]
    assert generation.phase == "succeeded" and generation.model == model and generation.model_exists is False


def test_model_labels_edited_away_out_of_band_do_not_hide_the_model(emulator, clients):
    job = clients["vertex"].create_tuning_job(PARENT, job_body("bot"))
    emulator.advance(61)
    model = clients["vertex"].get_tuning_job(job["name"])["tunedModel"]["model"].split("@")[0]
    admin(emulator, "resources:patch", {"name": model, "labels": {"team": "other"}, "displayName": "Hand edited"})
    generation = read(clients).of("bot")[0]
    assert generation.model_exists and generation.live["displayName"] == "Hand edited"
    assert generation.live["labels"] == {"team": "other"}


def test_a_failed_job_reports_the_servers_error(emulator, clients):
    job = clients["vertex"].create_tuning_job(PARENT, job_body("bot"))
    admin(emulator, "resources:fail", {"name": job["name"], "message": "training data is invalid"})
    generation = read(clients).of("bot")[0]
    assert (generation.phase, generation.error) == ("failed", "training data is invalid")


def test_lock_entries_outside_the_scopes_read_are_fetched(emulator, clients):
    elsewhere = "projects/acme/locations/europe-west4"
    job = clients["vertex"].create_tuning_job(elsewhere, job_body("bot"))
    emulator.clear_requests()
    state = read(clients, lock_keys=[job["name"], f"{elsewhere}/tuningJobs/999"])
    assert [g.job for g in state.of("bot")] == [job["name"]]
    assert state.find(f"{elsewhere}/tuningJobs/999") is None
    assert len(api_requests(emulator)) == 4 + 2


def test_gemini_models_with_progress_and_failure(emulator, clients):
    clients["gemini-api"].create_tuned_model(tuned_body("a"), "math-bot-0123abcd")
    clients["gemini-api"].create_tuned_model(tuned_body("b"), "broken-bot-89abcdef")
    clients["gemini-api"].create_tuned_model(tuned_body("c"), "not-ours-0123abcd")
    clients["gemini-api"].create_tuned_model(tuned_body("d"), "math-bot-extra")
    admin(emulator, "resources:fail", {"name": "tunedModels/broken-bot-89abcdef", "message": "examples rejected"})
    emulator.advance(30)
    state = read(clients, ["math-bot-0123abcd", "broken-bot-89abcdef"], scopes=[GEMINI_SCOPE])
    assert sorted(g.model for g in state.generations) == ["tunedModels/broken-bot-89abcdef",
                                                          "tunedModels/math-bot-0123abcd"]
    creating = state.of("math-bot")[0]
    assert (creating.phase, creating.digest, creating.state) == ("running", "0123abcd", "CREATING")
    assert creating.progress is not None and 0 < creating.progress < 100
    failed = state.of("broken-bot")[0]
    assert (failed.phase, failed.error) == ("failed", "examples rejected")


def test_refresh_survives_throttling_and_outages(emulator, clients):
    for i in range(3):
        clients["vertex"].create_tuning_job(PARENT, job_body(f"bot-{i}"))
    emulator.advance(61)
    emulator.add_faults([{"method": "GET", "path": "*/models", "status": 429, "retryAfterSeconds": 0.001, "times": 2},
                    {"method": "GET", "path": "*/endpoints", "status": 503, "times": 1},
                    {"method": "GET", "path": "/v1beta/tunedModels", "status": 500, "times": 1}])
    state = read(clients)
    assert len(state.generations) == 3 and all(g.model_exists and g.endpoints for g in state.generations)
    assert sorted(r["status"] for r in api_requests(emulator) if r["status"] != 200) == [429, 429, 500, 503]


def test_a_continuation_version_does_not_claim_the_endpoints_of_the_version_it_continues(emulator, clients):
    first = clients["vertex"].create_tuning_job(PARENT, job_body("base"))
    emulator.advance(3600)
    model_v1 = clients["vertex"].get_tuning_job(first["name"])["tunedModel"]["model"]
    body = job_body("child", digest="ba5e0000cafe")
    del body["baseModel"]
    body["tunedModelDisplayName"] = "base"  # same display name: a new version of the same model
    clients["vertex"].create_tuning_job(PARENT, {**body, "preTunedModel": {"tunedModelName": model_v1}})
    emulator.advance(3600)
    observed = read(clients, scopes=(VERTEX_SCOPE,))
    base, child = observed.of("base")[0], observed.of("child")[0]
    assert base.model.endswith("@1") and child.model.endswith("@2")
    assert base.model.split("@")[0] == child.model.split("@")[0]
    assert base.endpoints and child.endpoints
    assert not set(base.endpoints) & set(child.endpoints), (base.endpoints, child.endpoints)
