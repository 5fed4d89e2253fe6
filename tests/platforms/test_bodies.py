"""Request bodies built from the example manifests are accepted by the emulator's strict create validation
(unknown fields, enums, required fields, label rules) and read back with the manifest's values."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reconciler import manifest
from reconciler.platforms import bodies
from reconciler.clients.gemini import GeminiClient
from reconciler.clients.vertex import VertexClient
from reconciler.clients.auth import ApiKey, BearerToken
from reconciler.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
DESIRED = manifest.load(REPO / "manifests", env={})


@pytest.fixture(scope="module")
def apis():
    with Emulator(job_duration=10) as emulator:
        with httpx.Client(auth=BearerToken("t")) as vertex_http, httpx.Client(auth=ApiKey("k")) as gemini_http:
            yield (VertexClient(vertex_http, endpoint=emulator.base_url),
                   GeminiClient(gemini_http, endpoint=emulator.base_url), emulator)


@pytest.mark.parametrize("name", [n for n, r in DESIRED.resources.items() if r.platform == "vertex"])
def test_vertex_tuning_job_bodies_are_accepted_and_read_back(apis, name):
    vertex, _, emulator = apis
    resource = DESIRED.resources[name]
    upstream = None
    if resource.depends_on:
        parent = DESIRED.resources[resource.depends_on]
        job = vertex.create_tuning_job(f"projects/{parent.project}/locations/{parent.location}",
                                       bodies.tuning_job(parent, "up"))
        emulator.advance(3600)
        upstream = vertex.get_tuning_job(job["name"])["tunedModel"]["model"]
    created = vertex.create_tuning_job(f"projects/{resource.project}/locations/{resource.location}",
                                       bodies.tuning_job(resource, "intent-1", upstream))
    job = vertex.get_tuning_job(created["name"])
    assert job["labels"] == {**resource.mutable["labels"], "managed-by": "reconciler", "reconciler-name": name,
                             "reconciler-digest": resource.short_digest, "reconciler-intent": "intent-1",
                             "reconciler-stack": DESIRED.config.identity}  # the examples' stack
    assert job["tunedModelDisplayName"] == resource.mutable["displayName"]
    spec = job["supervisedTuningSpec"]
    assert spec["trainingDatasetUri"] == resource.immutable["training"]["dataset"]
    if "hyperParameters" in resource.immutable:
        assert int(spec["hyperParameters"]["epochCount"]) == resource.immutable["hyperParameters"]["epochCount"]
    if upstream:
        assert job["preTunedModel"]["tunedModelName"] == upstream and "baseModel" not in job


@pytest.mark.parametrize("name", [n for n, r in DESIRED.resources.items() if r.platform == "gemini-api"])
def test_gemini_tuned_model_bodies_are_accepted_under_the_deterministic_id(apis, name):
    _, gemini, _ = apis
    resource = DESIRED.resources[name]
    operation = gemini.create_tuned_model(bodies.tuned_model(resource), resource.tuned_model_id)
    assert operation["metadata"]["tunedModel"] == f"tunedModels/{resource.tuned_model_id}"
    model = gemini.get_tuned_model(f"tunedModels/{resource.tuned_model_id}")
    for field, value in resource.mutable.items():
        assert model[field] == pytest.approx(value)
    assert model["tuningTask"]["hyperparameters"]["epochCount"] == resource.immutable["hyperParameters"]["epochCount"]


def test_an_unresolved_upstream_is_refused_before_any_request():
    dependent = next(r for r in DESIRED.resources.values() if r.depends_on)
    with pytest.raises(ValueError, match="is not known yet"):
        bodies.tuning_job(dependent, "i")


def test_a_label_patch_sends_the_merged_map_ownership_and_unowned_labels_kept():
    resource = DESIRED.resources["support-bot"]
    live = {"managed-by": "reconciler", "reconciler-name": "support-bot", "team": "old", "extra": "x",
            "dropped": "y", "google-vertex-llm-tuning-base-model-id": "gemini-2_5-flash"}
    body, mask = bodies.model_patch(resource, ["labels", "displayName"], live, owned_labels={"team", "dropped"})
    assert mask == ["displayName", "labels"]
    # the manifest's labels; the ownership labels; and what this tool does not own (the service's system label,
    # one added by someone else) stays, as a labels patch replaces the whole map. "dropped" was applied: removed.
    assert body["labels"] == {**resource.mutable["labels"], "managed-by": "reconciler",
                              "reconciler-name": "support-bot", "extra": "x",
                              "google-vertex-llm-tuning-base-model-id": "gemini-2_5-flash"}


def test_a_pre_tuned_checkpoint_is_sent_and_the_emulator_checks_it(apis):
    """`preTunedModel.checkpointId` is part of the digest, so it must reach the create body, also when the
    upstream is named by `fromManifest`; a checkpoint the upstream version does not have is a 400."""
    from dataclasses import replace

    from reconciler.errors import InvalidArgument

    vertex, _, emulator = apis
    resource = next(r for r in DESIRED.resources.values() if r.depends_on)
    parent = DESIRED.resources[resource.depends_on]
    parent = replace(parent, immutable={**parent.immutable, "exportLastCheckpointOnly": False,
                                        "hyperParameters": {"epochCount": 2}})
    scope = f"projects/{parent.project}/locations/{parent.location}"
    made = vertex.create_tuning_job(scope, bodies.tuning_job(parent, "up"))
    emulator.advance(3600)
    upstream = vertex.get_tuning_job(made["name"])["tunedModel"]["model"]
    for checkpoint, accepted in (("1", True), ("99", False)):
        pre = {**resource.immutable["preTunedModel"], "checkpointId": checkpoint}
        wanted = replace(resource, immutable={**resource.immutable, "preTunedModel": pre})
        body = bodies.tuning_job(wanted, "i", upstream)
        assert body["preTunedModel"] == {"tunedModelName": upstream, "checkpointId": checkpoint}
        if accepted:
            job = vertex.create_tuning_job(f"projects/{wanted.project}/locations/{wanted.location}", body)
            assert job["preTunedModel"]["checkpointId"] == "1"
        else:
            with pytest.raises(InvalidArgument, match="Checkpoint '99' does not exist"):
                vertex.create_tuning_job(f"projects/{wanted.project}/locations/{wanted.location}", body)
