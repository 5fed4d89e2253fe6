"""Vertex AI model versions: listVersions, listCheckpoints, deleteVersion; the version a continuous-tuning job
starts from; and what a successful tuning job leaves behind: a model version (a new model, or the next version
of the pre-tuned model it continues under the same display name), an endpoint with it deployed and one
endpoint per intermediate checkpoint."""

from __future__ import annotations

import math
import re
from typing import Any

from ..clock import rfc3339
from ..listing import fingerprint, paginate, with_token
from ..names import canonical, numeric_id
from ..routing import NO_QUERY, ApiRequest, check_query
from ..rpc import invalid, precondition
from ..store import Store
from .common import EMPTY_TYPE, LIST_DEFAULT, LIST_MAX, ORDER_KEYS, Q_RESOURCE_LIST, resource
from .endpoints import Endpoints
from .job_schema import tuning_spec
from .models import Item, Models, refuse_while_releasing
from .operations import Operations

Q_CHECKPOINTS = frozenset({"pageSize", "pageToken"})
# System labels the service adds to what a tuning job creates (keys seen on real tuned models and read by the
# SDKs: google-genai's _TunedModelInfo_from_vertex reads the base-model one, python-aiplatform lists endpoints
# by the job-id one). Values are label-safe: `gemini-2.5-flash` -> `gemini-2_5-flash`, as observed.
BASE_MODEL_LABEL, JOB_ID_LABEL, TUNE_TYPE_LABEL = ("google-vertex-llm-tuning-base-model-id",
                                                   "google-vertex-llm-tuning-job-id", "tune-type")
_MODEL_REF_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/models/([^/@]+)(?:@([^/]+))?$")
ORDER_BY = {key: (lambda item, field=field: item[0]["versions"][item[1]][field])
            for key, field in ORDER_KEYS.items() if field != "displayName"}


class ModelVersions:
    def __init__(self, store: Store, operations: Operations, endpoints: Endpoints, models: Models) -> None:
        self.store = store
        self.operations = operations
        self.endpoints = endpoints
        self.models = models

    # ------------------------------------------------------------------ routes
    def list_versions(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, Q_RESOURCE_LIST)
        model, _ = self.models.resolve(resource(request, "models", "model").split("@")[0])
        items = [(model, v) for v in sorted(model["versions"], key=int)]
        return self.models.page(request, items, {}, ORDER_BY, ("versions", model["name"]))   # labels only

    def list_checkpoints(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, Q_CHECKPOINTS)
        name = resource(request, "models", "model")
        model, version = self.models.resolve(name)
        items = model["versions"][version].get("checkpoints", [])
        page, token = paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                               request_key=fingerprint("checkpoints", name))
        return with_token({"checkpoints": page}, token)

    def delete_version(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        name = resource(request, "models", "model")
        if "@" not in name:
            raise invalid("name", "models.deleteVersion needs a versioned name: models/{model}@{version}.")
        model, version_id = self.models.resolve(name)
        if len(model["versions"]) == 1:
            raise precondition(f"Version {version_id} is the only version of {model['name']}; "
                               "delete the model instead.")
        used = [endpoint for endpoint, deployed in self.endpoints.deployments().get(model["name"], [])
                if deployed.get("modelVersionId") == version_id]
        if used:
            raise precondition(f"Version {version_id} of {model['name']} is deployed to endpoint(s) "
                               f"{', '.join(sorted(set(used)))}; undeploy it first.")
        refuse_while_releasing(model, now)
        del model["versions"][version_id]
        model["updateTime"] = rfc3339(now)
        self.store.changed()
        return self.operations.create(model["name"], "DeleteOperationMetadata", EMPTY_TYPE, now)

    # ------------------------------------------------------------------ continuous tuning, and a job's success
    def continued_from(self, pre: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
        """The `preTunedModel` of a continuous-tuning job, checked against the model version it names (404 when
        that does not exist) and completed with its base model; the job's display name defaults to the model's."""
        source = pre.get("tunedModelName", "")
        if not _MODEL_REF_RE.match(source):
            raise invalid("tuning_job.pre_tuned_model.tuned_model_name",
                          "tuned_model_name must be projects/{p}/locations/{l}/models/{m}[@version].")
        model, version = self.models.resolve(canonical(source))   # 404 NOT_FOUND when it does not exist
        checkpoint = pre.get("checkpointId")
        known = {c["checkpointId"] for c in model["versions"][version].get("checkpoints", [])}
        if checkpoint and checkpoint not in known:
            # Not documented: 400 INVALID_ARGUMENT, also when the version exported no checkpoints at all.
            listed = ", ".join(sorted(known, key=lambda c: (len(c), c))) if known else "none"
            raise invalid("tuning_job.pre_tuned_model.checkpoint_id",
                          f"Checkpoint {checkpoint!r} does not exist in {model['name']}@{version} "
                          f"(its checkpoints: {listed}).")
        if not job.get("tunedModelDisplayName"):
            job["tunedModelDisplayName"] = model["displayName"]   # same name -> new version of that model
        return {**pre, "baseModel": model["versions"][version]["baseModel"]}

    def add_tuned(self, record: dict[str, Any], when: float) -> dict[str, Any]:
        """The model version and endpoints of a job that succeeded at `when`: its `tunedModel`."""
        job = record["job"]
        location_prefix = job["name"].split("/tuningJobs/")[0]
        labels = {**job.get("labels", {}), **system_labels(job)}
        display = job["tunedModelDisplayName"]
        spec = tuning_spec(job)
        steps_per_epoch = max(1, math.ceil(record["examples"] / 16))
        export_all = not spec.get("exportLastCheckpointOnly", False)
        checkpoints = [{"checkpointId": str(e), "epoch": str(e), "step": str(e * steps_per_epoch)}
                       for e in range(1, record["epochs"] + 1)] if export_all else []
        model, version_id = self._add_version(job, labels, checkpoints, when)
        versioned = f"{model['name']}@{version_id}"

        endpoint_labels = {k: v for k, v in labels.items() if k != TUNE_TYPE_LABEL}

        def deploy(name: str, checkpoint: str | None) -> str:
            return self.endpoints.create(location_prefix, name, endpoint_labels, job, versioned, version_id,
                                         checkpoint, when)

        main = deploy(display, checkpoints[-1]["checkpointId"] if checkpoints else None)
        tuned: dict[str, Any] = {"model": versioned, "endpoint": main}
        if checkpoints:
            tuned["checkpoints"] = [{**checkpoint, "endpoint": deploy(f"{display} checkpoint "
                                                                      f"{checkpoint['checkpointId']}",
                                                                      checkpoint["checkpointId"])}
                                    for checkpoint in checkpoints[:-1]]
            tuned["checkpoints"].append({**checkpoints[-1], "endpoint": main})
        return tuned

    def _add_version(self, job: dict[str, Any], labels: dict[str, str], checkpoints: list[dict[str, str]],
                     when: float) -> Item:
        """The model version a successful tuning job leaves; continuous tuning under the same display name
        adds the next version of its pre-tuned model, anything else creates a model."""
        display = job["tunedModelDisplayName"]
        model = None
        if "preTunedModel" in job:
            source = self.store["models"].get(canonical(job["preTunedModel"]["tunedModelName"]).split("@")[0])
            if source is not None and source["displayName"] == display:
                model = source
        base_model = job.get("baseModel") or job["preTunedModel"].get("baseModel", "")
        stamp = rfc3339(when)
        if model is None:
            model_id = numeric_id(19, {n.rsplit("/", 1)[1] for n in self.store["models"]})
            model = {"name": f"{job['name'].split('/tuningJobs/')[0]}/models/{model_id}",
                     "seq": self.store.next_seq(), "displayName": display, "labels": labels, "createTime": stamp,
                     "updateTime": stamp, "versions": {}, "nextVersion": 1}
            if job.get("description"):
                model["description"] = job["description"]
            self.store["models"][model["name"]] = model
            version_labels: dict[str, str] = {}
        else:
            version_labels = labels     # a new version carries the new job's labels (merged on read)
        version_id = str(model["nextVersion"])
        model["nextVersion"] += 1
        version = {"versionId": version_id, "seq": self.store.next_seq(), "createTime": stamp, "updateTime": stamp,
                   "labels": version_labels, "baseModel": base_model, "tuningJob": job["name"],
                   "checkpoints": checkpoints, "etagSeq": 0}
        if checkpoints:
            version["defaultCheckpointId"] = checkpoints[-1]["checkpointId"]
        if "encryptionSpec" in job:
            version["encryptionSpec"] = job["encryptionSpec"]
        model["versions"][version_id] = version
        model["updateTime"] = stamp
        return model, version_id


def system_labels(job: dict[str, Any]) -> dict[str, str]:
    """The labels the service adds to the model (all three) and endpoints (base model, job id) of `job`.
    `tune-type=sft` is only known for supervised tuning: other tuning specs get no tune-type."""
    base = job.get("baseModel") or job.get("preTunedModel", {}).get("baseModel", "")
    labels = {BASE_MODEL_LABEL: re.sub(r"[^a-z0-9_-]", "_", base.rsplit("/", 1)[-1].lower())[:63],
              JOB_ID_LABEL: job["name"].rsplit("/", 1)[-1]}
    if "supervisedTuningSpec" in job:
        labels[TUNE_TYPE_LABEL] = "sft"
    return labels
