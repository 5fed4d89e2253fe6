"""v1beta1 is complete: tuningJobs.create under /v1beta1/ accepts every writable TuningJob field of the published
v1beta1 discovery document (the subset the emulator vendors, reconciler/emulator/vertex/), a field only v1beta1
has is refused under /v1/ (compared with the v1 reference subset in schemas/), and unknown fields are refused
under both. Bodies are generated from the documents, so a newer vendored revision is tested as it lands."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from emulator_api import assert_error, violations

HERE = Path(__file__).resolve().parent
BETA = json.loads((HERE.parents[1] / "reconciler/emulator/vertex/aiplatform.v1beta1.tuning-job.json").read_text())
V1 = json.loads((HERE / "schemas/aiplatform.v1.tuning-subset.json").read_text())["schemas"]
SCHEMAS = BETA["schemas"]
ROOT = BETA["root"]
BASE = {"baseModel": "gemini-2.5-flash", "tunedModelDisplayName": "beta-bot",
        "supervisedTuningSpec": {"trainingDatasetUri": "gs://bucket/train.jsonl"}}
EVALUATION = {"metrics": [{"exactMatchSpec": {}}], "outputConfig": {"gcsDestination": {"outputUriPrefix": "gs://b/e/"}}}
# values the create checks beyond the schema (formats the reference documents)
SPECIAL = {"encryptionSpec": {"kmsKeyName": "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k"},
           "serviceAccount": "tuner@p.iam.gserviceaccount.com", "labels": {"team": "beta"},
           "baseModel": "gemini-2.5-flash", "evaluationConfig": EVALUATION}


def _ref(node: dict[str, Any]) -> str | None:
    """The message a field holds (itself, as list items, or as map values)."""
    extra = node.get("additionalProperties")
    extra = extra if isinstance(extra, dict) else {}
    return node.get("$ref") or (node.get("items") or {}).get("$ref") or extra.get("$ref")


def beta_only_paths() -> list[str]:
    """Writable field paths of the v1beta1 TuningJob whose v1 counterpart does not exist (not descending
    into a field v1 lacks altogether)."""
    found: list[str] = []
    seen: set[tuple[str, str | None]] = set()

    def walk(beta: str, v1: str | None, path: str) -> None:
        if (beta, v1) in seen:
            return
        seen.add((beta, v1))
        v1_fields = V1[v1]["properties"] if v1 in V1 else {}
        for field, node in SCHEMAS[beta]["properties"].items():
            if node.get("readOnly"):
                continue
            here = f"{path}.{field}" if path else field
            if field not in v1_fields:
                found.append(here)
            elif _ref(node):
                walk(_ref(node), _ref(v1_fields[field]), here)
    walk(ROOT, "GoogleCloudAiplatformV1TuningJob", "")
    return found


def sample(node: dict[str, Any], field: str) -> Any:
    """A valid value for one discovery field node."""
    if field in SPECIAL:
        return copy.deepcopy(SPECIAL[field])
    if "$ref" in node:
        properties = SCHEMAS[node["$ref"]]["properties"]
        return {"trainingDatasetUri": "gs://bucket/train.jsonl"} if "trainingDatasetUri" in properties else {}
    kind, form = node.get("type"), node.get("format")
    if kind == "array":
        return [sample(node["items"], field)]
    if kind == "object":
        return {"key": "value"} if (node.get("additionalProperties") or {}).get("type") == "string" else {}
    if kind == "string" and "enum" in node:
        return node["enum"][-1]
    if kind == "string" and form in ("int64", "uint64"):
        return "1"
    if kind == "string":
        uri = field.lower().endswith(("uri", "directory"))
        return "gs://bucket/x/" if uri else "3.5s" if form == "google-duration" else "x"
    return {"integer": 1, "number": 0.5, "boolean": True, "any": "x"}[kind]


def body_with(path: str) -> dict[str, Any]:
    """The base create body with the field at `path` set (a tuning spec replaces supervisedTuningSpec)."""
    body = copy.deepcopy(BASE)
    parts = path.split(".")
    if parts[0].endswith("Spec") and parts[0] not in ("encryptionSpec", "supervisedTuningSpec"):
        del body["supervisedTuningSpec"]
    if parts[:2] == ["supervisedTuningSpec", "evaluationConfig"] and len(parts) > 2:
        body["supervisedTuningSpec"]["evaluationConfig"] = copy.deepcopy(EVALUATION)
    target, schema = body, ROOT
    for depth, field in enumerate(parts):
        node = SCHEMAS[schema]["properties"][field]
        if depth == len(parts) - 1:
            target[field] = sample(node, field)
            break
        schema = _ref(node)
        if node.get("type") == "array":
            target[field] = [{}]
            target = target[field][0]
        else:
            target = target.setdefault(field, {})
    return body


BETA_ONLY = beta_only_paths()
WRITABLE = [f for f, node in SCHEMAS[ROOT]["properties"].items() if not node.get("readOnly") and f != "preTunedModel"]


def test_the_vendored_document_has_the_v1beta1_only_fields_the_reference_names():
    assert {"supervisedTuningSpec.hyperParameters.batchSize", "supervisedTuningSpec.hyperParameters.learningRate",
            "supervisedTuningSpec.tuningMode", "distillationSpec"} <= set(BETA_ONLY)
    assert BETA["source"].startswith("aiplatform v1beta1 discovery document, revision ")


@pytest.mark.parametrize("field", WRITABLE)
def test_every_writable_v1beta1_field_is_accepted(api, field):
    response = api.vertex("POST", "tuningJobs", version="v1beta1", json=body_with(field))
    assert response.status_code == 200, response.text


def test_pre_tuned_model_is_accepted_too(api):
    model = api.finished_job()["tunedModel"]["model"]
    body = {**BASE, "preTunedModel": {"tunedModelName": model, "checkpointId": "2"}}
    del body["baseModel"]
    response = api.vertex("POST", "tuningJobs", version="v1beta1", json=body)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", BETA_ONLY)
def test_a_v1beta1_only_field_passes_under_v1beta1_and_fails_under_v1(api, path):
    body = body_with(path)
    created = api.vertex("POST", "tuningJobs", version="v1beta1", json=body)
    assert created.status_code == 200, created.text
    refused = api.vertex("POST", "tuningJobs", version="v1", json=body)
    assert_error(refused, 400, "INVALID_ARGUMENT")
    assert "Unknown name" in refused.text, refused.text
    # read back through v1, the job shows only what v1 has
    name = created.json()["name"]
    as_v1 = api.vertex("GET", name, version="v1").json()
    leaf = path.split(".")
    probe: Any = as_v1
    for field in leaf[:-1]:
        probe = probe.get(field, {}) if isinstance(probe, dict) else probe[0] if probe else {}
    assert leaf[-1] not in (probe if isinstance(probe, dict) else {}), as_v1


@pytest.mark.parametrize(("version", "path"), [
    ("v1beta1", "bogusField"), ("v1beta1", "supervisedTuningSpec.hyperParameters.bogus"),
    ("v1beta1", "distillationSpec.bogus"), ("v1beta1", "supervisedTuningSpec.evaluationConfig.metrics.bogusSpec"),
    ("v1", "bogusField"), ("v1", "supervisedTuningSpec.evaluationConfig.bogus")])
def test_unknown_fields_are_refused_under_both_versions(api, version, path):
    parts = path.split(".")
    body = body_with(".".join(parts[:-1])) if len(parts) > 1 else copy.deepcopy(BASE)
    target: Any = body
    for field in parts[:-1]:
        target = target[field][0] if isinstance(target[field], list) else target[field]
    if not isinstance(target, dict):
        target = body
    target[parts[-1]] = "x"
    response = api.vertex("POST", "tuningJobs", version=version, json=body)
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert violations(response), response.text


def test_a_v1beta1_enum_is_checked(api):
    body = body_with("supervisedTuningSpec.tuningMode")
    body["supervisedTuningSpec"]["tuningMode"] = "TUNING_MODE_SIDEWAYS"
    assert_error(api.vertex("POST", "tuningJobs", version="v1beta1", json=body), 400, "INVALID_ARGUMENT")
    body["supervisedTuningSpec"]["tuningMode"] = 2    # enum numbers are accepted, answered as names
    created = api.vertex("POST", "tuningJobs", version="v1beta1", json=body)
    assert created.json()["supervisedTuningSpec"]["tuningMode"] == "TUNING_MODE_PEFT_ADAPTER"


def test_two_tuning_specs_are_refused(api):
    body = {**body_with("distillationSpec"), "supervisedTuningSpec": BASE["supervisedTuningSpec"]}
    assert_error(api.vertex("POST", "tuningJobs", version="v1beta1", json=body), 400, "INVALID_ARGUMENT")
