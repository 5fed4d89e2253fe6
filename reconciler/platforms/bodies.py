"""Request bodies: a desired resource turned into the exact JSON each API expects. Pure functions."""

from __future__ import annotations

from collections.abc import Collection

from reconciler import ownership
from reconciler.desired import DesiredResource


def tuning_job(resource: DesiredResource, intent: str, upstream_model: str | None = None) -> dict:
    """A Vertex `TuningJob` create body (v1)."""
    spec, mutable = resource.immutable, resource.mutable
    supervised: dict = {"trainingDatasetUri": _dataset(resource, "dataset", "file")}
    validation = _dataset(resource, "validationDataset", "validationFile")
    if validation:
        supervised["validationDatasetUri"] = validation
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
    owned = ownership.labels(resource.name, resource.digest, intent, resource.identity)
    body["labels"] = {**mutable.get("labels", {}), **owned}
    return body


def _dataset(resource: DesiredResource, uri_field: str, file_field: str) -> str | None:
    """The dataset URI written in the manifest, or the staged object of the repository's file."""
    training = resource.immutable.get("training", {})
    if uri_field in training:
        return training[uri_field]
    if file_field not in training:
        return None
    staged = resource.staged(file_field)
    if staged is None:
        raise ValueError(f"{resource.name}: training.{file_field} has no staging location")
    return staged


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
        source = {model_key: upstream_model, **{k: v for k, v in source.items() if k != "fromManifest"}}
    return {field: source}


def model_patch(resource: DesiredResource, fields: Collection[str], live_labels: dict[str, str],
                owned_labels: Collection[str] = ()) -> tuple[dict, list[str]]:
    """A patch body and update mask for the mutable `fields`. A labels patch replaces the whole map, so it
    sends the merged map: every live label this tool does not own (`owned_labels`: the keys it applied; the
    service's system labels, anyone else's) and its ownership labels stay; the owned ones become the manifest's."""
    body = {field: resource.mutable.get(field) for field in fields}
    if "labels" in body:
        wanted = dict(body["labels"] or {})
        kept = {k: v for k, v in live_labels.items() if k not in owned_labels and k not in wanted}
        body["labels"] = {**kept, **wanted, **ownership.only_ownership(live_labels)}
    return body, sorted(fields)
