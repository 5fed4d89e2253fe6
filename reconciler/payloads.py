"""Request bodies: a desired resource turned into the exact JSON each API expects. Pure functions.

Ownership travels with every Vertex job as labels (propagated by the service to the model and endpoint);
on the Gemini API it travels in the deterministic tunedModelId `{name}-{digest[:8]}`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reconciler.resources import DesiredResource

MANAGED_BY, MANAGER = "managed-by", "reconciler"
NAME_LABEL, DIGEST_LABEL, INTENT_LABEL = "reconciler-name", "reconciler-digest", "reconciler-intent"
OWNERSHIP_LABELS = (MANAGED_BY, NAME_LABEL, DIGEST_LABEL, INTENT_LABEL)
MANAGED_FILTER = f'labels.{MANAGED_BY}="{MANAGER}"'


def ownership_labels(resource: DesiredResource, intent: str) -> dict[str, str]:
    return {MANAGED_BY: MANAGER, NAME_LABEL: resource.name, DIGEST_LABEL: resource.short_digest,
            INTENT_LABEL: intent}


def ownership_filter(resource: DesiredResource) -> str:
    """The listing filter that finds this manifest's jobs for its current digest (checked again client-side)."""
    return (f'{MANAGED_FILTER} AND labels.{NAME_LABEL}="{resource.name}" '
            f'AND labels.{DIGEST_LABEL}="{resource.short_digest}"')


def tuning_job(resource: DesiredResource, intent: str, upstream_model: str | None = None) -> dict:
    """A Vertex `TuningJob` create body (v1)."""
    spec, mutable = resource.immutable, resource.mutable
    training = spec.get("training", {})
    supervised: dict = {"trainingDatasetUri": training["dataset"]}
    if "validationDataset" in training:
        supervised["validationDatasetUri"] = training["validationDataset"]
    for key in ("hyperParameters", "exportLastCheckpointOnly", "evaluationConfig"):
        if key in spec:
            supervised[key] = spec[key]
    body: dict = {"supervisedTuningSpec": supervised,
                  **_source(resource, "preTunedModel", "tunedModelName", upstream_model)}
    if "displayName" in mutable:
        body["tunedModelDisplayName"] = mutable["displayName"]
    if "description" in mutable:
        body["description"] = mutable["description"]
    if "serviceAccount" in spec:
        body["serviceAccount"] = spec["serviceAccount"]
    if "encryption" in spec:
        body["encryptionSpec"] = {"kmsKeyName": spec["encryption"]["kmsKeyName"]}
    body["labels"] = {**mutable.get("labels", {}), **ownership_labels(resource, intent)}
    return body


def tuned_model(resource: DesiredResource, upstream_model: str | None = None) -> dict:
    """A Gemini API `TunedModel` create body (v1beta); sent with `tunedModelId=resource.tuned_model_id`."""
    spec = resource.immutable
    body: dict = {**_source(resource, "tunedModelSource", "tunedModel", upstream_model), **resource.mutable}
    task: dict = {"trainingData": {"examples": {"examples": [dict(row) for row in resource.examples]}}}
    if spec.get("hyperParameters"):
        task["hyperparameters"] = dict(spec["hyperParameters"])
    body["tuningTask"] = task
    return body


def _source(resource: DesiredResource, field: str, model_key: str, upstream_model: str | None) -> dict:
    """`baseModel`, or the tuned model to continue from (`fromManifest` resolved to the upstream's live model)."""
    spec = resource.immutable
    if "baseModel" in spec:
        return {"baseModel": spec["baseModel"]}
    source = dict(spec[field])
    if "fromManifest" in source:
        if not upstream_model:
            raise ValueError(f"{resource.name}: the model of {source['fromManifest']} is not known yet")
        source = {model_key: upstream_model}
    return {field: source}


def model_patch(resource: DesiredResource, fields: list[str], live_labels: dict[str, str]) -> tuple[dict, list[str]]:
    """A patch body and update mask for the mutable `fields`; Vertex keeps the ownership labels it carries."""
    body = {field: resource.mutable.get(field) for field in fields}
    if "labels" in body:
        kept = {k: v for k, v in live_labels.items() if k in OWNERSHIP_LABELS}
        body["labels"] = {**(body["labels"] or {}), **kept}
    return body, sorted(fields)
