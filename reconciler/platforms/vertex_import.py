"""Vertex AI for `reconciler import`: a tuning job made without this tool (named directly, or found through the
model it made) read as a manifest-shaped spec, and claimed by labelling its model.

A tuning job cannot be patched (its labels are fixed at create) and a Model does not name the job that made it
(the reference lists no such field), so a model is traced back by listing the tuning jobs of its location and
taking the one whose `tunedModel.model` is that version. Every job and model read goes through the decoders
of `vertex_read`; the spec fields read here are checked by `decode` as well.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from reconciler import ownership
from reconciler.errors import BadResponse, NotFound, UserError
from reconciler.observed import Generation
from reconciler.platforms import decode
from reconciler.platforms.base import LiveSpec, get_or_none
from reconciler.platforms.vertex_read import decode_job, decode_model, generation, model_tail

if TYPE_CHECKING:
    from reconciler.clients.vertex import VertexClient

_SCOPE = r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
JOB = re.compile(_SCOPE + r"/tuningJobs/(?P<id>[^/@]+)")
MODEL = re.compile(_SCOPE + r"/models/(?P<id>[^/@]+)(?:@(?P<version>[^/@]+))?")
# AdapterSize on the wire: the enum numbers are not the ranks (reference: AdapterSize)
ADAPTER_SIZES = {0: None, 1: "ADAPTER_SIZE_ONE", 6: "ADAPTER_SIZE_TWO", 2: "ADAPTER_SIZE_FOUR", 3: "ADAPTER_SIZE_EIGHT",
                 4: "ADAPTER_SIZE_SIXTEEN", 5: "ADAPTER_SIZE_THIRTY_TWO"}


class VertexImporter:
    forms = ("projects/P/locations/L/tuningJobs/J", "projects/P/locations/L/models/M[@V]")

    def recognizes(self, resource: str) -> bool:
        return bool(JOB.fullmatch(resource) or MODEL.fullmatch(resource))

    def scope(self, resource: str) -> tuple[str | None, str | None]:
        match = JOB.fullmatch(resource) or MODEL.fullmatch(resource)
        return (match["project"], match["location"]) if match else (None, None)

    def read(self, client: VertexClient, resource: str) -> LiveSpec:
        job_match = JOB.fullmatch(resource)
        if job_match:
            job, job_name = _get(client, resource, "tuning job"), resource
        else:
            job, job_name = _job_of(client, resource, _get(client, resource, "model"))
        made = (job.get("tunedModel") or {}).get("model")
        model = None
        if made and job.get("state") in ("JOB_STATE_SUCCEEDED", "JOB_STATE_PARTIALLY_SUCCEEDED"):
            found = get_or_none(client.get_model, made)
            model = decode.at("GET", client.url(made), decode_model, found) if found is not None else None
        live = generation(job, model, model_exists=model is not None or not made, job_name=job_name)
        marks = {**((model or {}).get("labels") or {}), **(job.get("labels") or {})}  # the job's are the create's
        project, location = self.scope(job_name)
        return LiveSpec(key=job_name, generation=live, project=project, location=location,
                        immutable=decode.at("GET", client.url(job_name), spec_of, job), mutable=dict(live.live),
                        defaults={"exportLastCheckpointOnly": False}, upstream=("preTunedModel", "tunedModelName"),
                        owner=marks.get(ownership.NAME_LABEL, ""), stack=marks.get(ownership.STACK_LABEL),
                        labels_on_claim=model is not None)

    def claim(self, client: VertexClient, live: LiveSpec, labels: Mapping[str, str]) -> Generation:
        """Label the model (the tuning job cannot be patched): its other labels stay as they are."""
        made = live.generation.model
        if not live.labels_on_claim or not made:
            return live.generation
        base = made.split("@", 1)[0]
        current = decode.at("GET", client.url(base), decode_model, client.get_model(base)).get("labels") or {}
        client.patch_model(base, {"labels": {**ownership.without_ownership(current), **labels}}, ["labels"])
        return replace(live.generation, intent=labels.get(ownership.INTENT_LABEL, live.generation.intent))


def spec_of(job: object) -> dict:
    """The immutable fields of a TuningJob in a manifest's names and types (the canonical immutable spec)."""
    job = decode_job(job)
    what = f"the tuning job {job['name']}"
    if job.get("preferenceOptimizationSpec") is not None and job.get("supervisedTuningSpec") is None:
        raise UserError(f"{job['name']} is a preference-optimization job; a manifest describes supervised "
                        "tuning only, so it cannot be imported")
    tuning = decode.obj(job, "supervisedTuningSpec", what)
    spec: dict[str, Any] = {}
    if decode.string(job, "baseModel", what):
        spec["baseModel"] = job["baseModel"]
    pre = decode.obj(job, "preTunedModel", what)
    source = {k: decode.string(pre, k, f"{what}'s preTunedModel") for k in ("tunedModelName", "checkpointId")}
    if any(source.values()):
        spec["preTunedModel"] = {k: v for k, v in source.items() if v}
    training = {"dataset": decode.string(tuning, "trainingDatasetUri", what),
                "validationDataset": decode.string(tuning, "validationDatasetUri", what)}
    spec["training"] = {k: v for k, v in training.items() if v}
    hyper = _hyper_parameters(decode.obj(tuning, "hyperParameters", what), f"{what}'s hyperParameters")
    if hyper:
        spec["hyperParameters"] = hyper
    if tuning.get("exportLastCheckpointOnly") is not None:
        spec["exportLastCheckpointOnly"] = decode.boolean(tuning, "exportLastCheckpointOnly", what)
    if decode.obj(tuning, "evaluationConfig", what):
        spec["evaluationConfig"] = tuning["evaluationConfig"]
    if decode.string(job, "serviceAccount", what):
        spec["serviceAccount"] = job["serviceAccount"]
    key = decode.string(decode.obj(job, "encryptionSpec", what), "kmsKeyName", f"{what}'s encryptionSpec")
    if key:
        spec["encryption"] = {"kmsKeyName": key}
    return spec


def _hyper_parameters(hyper: dict, what: str) -> dict:
    """int64 as a string or a number, the adapter size as a name or its enum number: as a manifest spells them."""
    out: dict[str, Any] = {}
    for key, value in hyper.items():
        if value is None:
            continue
        if key in ("epochCount", "batchSize"):
            out[key] = decode.int64(hyper, key, what)
        elif key == "adapterSize":
            size = ADAPTER_SIZES.get(value, value) if isinstance(value, int) else value
            if size in (None, "ADAPTER_SIZE_UNSPECIFIED"):
                continue
            if size not in ADAPTER_SIZES.values():
                raise BadResponse(f"the server answered {what} whose `adapterSize` is {value!r}; expected an "
                                  "AdapterSize name or number")
            out[key] = size
        else:
            out[key] = decode.number(hyper, key, what)
    return out


def _get(client: VertexClient, name: str, kind: str) -> dict:
    read = client.get_tuning_job if kind == "tuning job" else client.get_model
    try:
        found = read(name)
    except NotFound:
        raise UserError(f"{name}: no such {kind} (the API answered NOT_FOUND); nothing was imported") from None
    return decode.at("GET", client.url(name), decode_job if kind == "tuning job" else decode_model, found)


def _job_of(client: VertexClient, name: str, model: dict) -> tuple[dict, str]:
    """The tuning job that made this model version, and its name spelled with the project as `name` spells it."""
    match = MODEL.fullmatch(name)
    version = match["version"] or str(model.get("versionId") or "1")
    parent = f"projects/{match['project']}/locations/{match['location']}"
    url = client.url(f"{parent}/tuningJobs")
    for found in client.list_tuning_jobs(parent):
        job = decode.at("GET", url, decode_job, found)
        made = (job.get("tunedModel") or {}).get("model") or ""
        if made and model_tail(made) == model_tail(name) and (made.partition("@")[2] or "1") == version:
            return job, f"{parent}/tuningJobs/{job['name'].rsplit('/', 1)[1]}"
    raise UserError(f"{name}: no tuning job in {parent} made this model version (a Model does not name its "
                    "tuning job, so the location's tuning jobs were searched); only tuned models made by a tuning "
                    "job can be imported: import the tuning job by name instead")


IMPORTER = VertexImporter()
