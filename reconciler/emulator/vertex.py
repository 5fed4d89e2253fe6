"""Vertex AI (aiplatform v1 / v1beta1): tuningJobs, the models and endpoints they create, operations.

State is stored as plain JSON-able records; a job's state is computed lazily from its createTime and the
virtual clock, and `settle()` materialises what a finished job leaves behind (model, endpoints).
"""

from __future__ import annotations

import math
import re
from typing import Any

from . import listing
from .clock import Clock, rfc3339
from .names import canonical, numeric_id, project_number, stable_int
from .routing import ApiRequest, check_query, no_route
from .rpc import RpcError, bad_request, invalid, not_found, precondition, status
from .schema import ANY, LIST, MAP, OUT, Enum, Violations, camel, coerce, label_problems
from .store import Store

TYPE = "type.googleapis.com/google.cloud.aiplatform.v1."
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
LIST_DEFAULT, LIST_MAX = 100, 1000      # not documented by Google (reference: Pagination); chosen here
CANCEL_DELAY = 5.0                      # virtual seconds spent in JOB_STATE_CANCELLING
DEFAULT_EPOCHS = 3                      # the service picks epochs from the dataset size; we pick 3
QUEUED_FRACTION, PENDING_FRACTION = 0.1, 0.2   # of the job duration: QUEUED, then PENDING, then RUNNING

# ------------------------------------------------------------------ request schemas (reference: TuningJob)
ADAPTER_SIZE = Enum("google.cloud.aiplatform.v1.SupervisedHyperParameters.AdapterSize", {
    "ADAPTER_SIZE_UNSPECIFIED": 0, "ADAPTER_SIZE_ONE": 1, "ADAPTER_SIZE_TWO": 6, "ADAPTER_SIZE_FOUR": 2,
    "ADAPTER_SIZE_EIGHT": 3, "ADAPTER_SIZE_SIXTEEN": 4, "ADAPTER_SIZE_THIRTY_TWO": 5})
TUNING_MODE = Enum("google.cloud.aiplatform.v1beta1.SupervisedTuningSpec.TuningMode", {
    "TUNING_MODE_UNSPECIFIED": 0, "TUNING_MODE_FULL": 1, "TUNING_MODE_PEFT_ADAPTER": 2})
JOB_STATES = ["JOB_STATE_UNSPECIFIED", "JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_RUNNING",
              "JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLING", "JOB_STATE_CANCELLED",
              "JOB_STATE_PAUSED", "JOB_STATE_EXPIRED", "JOB_STATE_UPDATING", "JOB_STATE_PARTIALLY_SUCCEEDED"]
JOB_STATE = Enum("google.cloud.aiplatform.v1.JobState", {name: i for i, name in enumerate(JOB_STATES)})
TERMINAL = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED",
                      "JOB_STATE_PARTIALLY_SUCCEEDED"})

_HYPER_V1 = {"epochCount": "int64", "learningRateMultiplier": "double", "adapterSize": ADAPTER_SIZE}
_HYPER_V1BETA1 = {**_HYPER_V1, "batchSize": "int64", "learningRate": "double"}
_ENCRYPTION = {"kmsKeyName": "string"}
_PRE_TUNED = {"tunedModelName": "string", "checkpointId": "string", "baseModel": OUT}
_OUTPUT_ONLY_JOB = ("name", "state", "createTime", "startTime", "endTime", "updateTime", "error", "tunedModel",
                    "tuningDataStats", "experiment", "evaluateDatasetRuns", "gcsMetricsUri")


def _job_spec(version: str) -> dict[str, Any]:
    hyper = _HYPER_V1BETA1 if version == "v1beta1" else _HYPER_V1
    supervised = {"trainingDatasetUri": "string", "validationDatasetUri": "string", "hyperParameters": hyper,
                  "exportLastCheckpointOnly": "bool", "evaluationConfig": ANY}
    if version == "v1beta1":
        supervised["tuningMode"] = TUNING_MODE
    preference = {"trainingDatasetUri": "string", "validationDatasetUri": "string",
                  "exportLastCheckpointOnly": "bool",
                  "hyperParameters": {"epochCount": "int64", "learningRateMultiplier": "double",
                                      "adapterSize": ADAPTER_SIZE, "beta": "double"}}
    spec: dict[str, Any] = {"baseModel": "string", "preTunedModel": _PRE_TUNED, "supervisedTuningSpec": supervised,
                            "preferenceOptimizationSpec": preference, "tunedModelDisplayName": "string",
                            "description": "string", "labels": MAP, "encryptionSpec": _ENCRYPTION,
                            "serviceAccount": "string"}
    spec.update({name: OUT for name in _OUTPUT_ONLY_JOB})
    return spec


JOB_SPECS = {"v1": _job_spec("v1"), "v1beta1": _job_spec("v1beta1")}

# Every Model field of the discovery document: a PATCH body may carry any of them; only the masked,
# mutable ones are applied.
_MODEL_FIELDS = ("artifactUri baseModelSource checkpoints containerSpec createTime dataStats defaultCheckpointId "
                 "deployedModels description displayName encryptionSpec etag explanationSpec labels metadata "
                 "metadataArtifact metadataSchemaUri modelSourceInfo name originalModelInfo pipelineJob "
                 "predictSchemata satisfiesPzi satisfiesPzs supportedDeploymentResourcesTypes "
                 "supportedExportFormats supportedInputStorageFormats supportedOutputStorageFormats "
                 "trainingPipeline updateTime versionAliases versionCreateTime versionDescription versionId "
                 "versionUpdateTime").split()
MODEL_PATCH_SPEC: dict[str, Any] = {name: OUT for name in _MODEL_FIELDS}
MODEL_PATCH_SPEC.update({"displayName": "string", "description": "string", "labels": MAP,
                         "versionDescription": "string", "etag": "string"})
UNDEPLOY_SPEC = {"deployedModelId": "string", "trafficSplit": ANY}

_KMS_RE = re.compile(r"^projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
_MODEL_REF_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/models/([^/@]+)(?:@([^/]+))?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

Q_LIST = frozenset({"filter", "pageSize", "pageToken"})
Q_MODEL_LIST = frozenset({"filter", "pageSize", "pageToken", "orderBy", "readMask"})
Q_OPS_LIST = frozenset({"filter", "pageSize", "pageToken", "returnPartialSuccess"})


class Vertex:
    def __init__(self, store: Store, clock: Clock, job_duration: float) -> None:
        self.store = store
        self.clock = clock
        self.job_duration = float(job_duration)
        self._index_key: tuple[int, int] | None = None  # (store generation, state id)
        self._index: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    # ================================================================== routing
    def handle(self, request: ApiRequest, now: float) -> dict[str, Any]:
        segments = request.segments
        if len(segments) < 5 or segments[0] != "projects" or segments[2] != "locations":
            raise no_route(request)
        parent = f"projects/{project_number(segments[1])}/locations/{segments[3]}"
        rest, method, verb = segments[4:], request.method, request.verb
        collection = rest[0]
        if collection in ("tuningJobs", "models", "endpoints") and len(rest) >= 3 and rest[2] == "operations":
            return self.operation_call(request, f"{parent}/{rest[0]}/{rest[1]}", rest[3:])
        if collection == "operations":
            return self.operation_call(request, parent, rest[1:])
        if collection == "tuningJobs":
            return self.route_jobs(request, parent, rest, now)
        if collection == "models":
            return self.route_models(request, parent, rest, now)
        if collection == "endpoints":
            return self.route_endpoints(request, parent, rest, now)
        raise no_route(request)

    def route_jobs(self, request: ApiRequest, parent: str, rest: list[str], now: float) -> dict[str, Any]:
        method, verb = request.method, request.verb
        if len(rest) == 1 and verb is None:
            if method == "GET":
                return self.list_jobs(request, parent, now)
            if method == "POST":
                check_query(request.query, frozenset())
                return self.create_job(request, parent, now)
        if len(rest) == 1 and verb == "rebaseTunedModel" and method == "POST":
            raise RpcError("UNIMPLEMENTED", "tuningJobs.rebaseTunedModel is not supported by the emulator.")
        if len(rest) == 2:
            name = f"{parent}/tuningJobs/{rest[1]}"
            check_query(request.query, frozenset())
            if method == "GET" and verb is None:
                return self.job_view(self.job(name), now, request.version)
            if method == "POST" and verb == "cancel":
                return self.cancel_job(request, name, now)
        raise no_route(request)

    def route_models(self, request: ApiRequest, parent: str, rest: list[str], now: float) -> dict[str, Any]:
        method, verb = request.method, request.verb
        if len(rest) == 1 and verb is None and method == "GET":
            return self.list_models(request, parent)
        if len(rest) == 2:
            name = f"{parent}/models/{rest[1]}"
            if verb is None and method == "GET":
                check_query(request.query, frozenset())
                model, version = self.model_version(name)
                return self.model_view(model, version)
            if verb is None and method == "PATCH":
                check_query(request.query, frozenset({"updateMask"}))
                return self.patch_model(request, name, now)
            if verb is None and method == "DELETE":
                check_query(request.query, frozenset())
                return self.delete_model(name, now)
            if verb == "listVersions" and method == "GET":
                return self.list_versions(request, name)
            if verb == "listCheckpoints" and method == "GET":
                check_query(request.query, frozenset({"pageSize", "pageToken"}))
                model, version = self.model_version(name)
                items = model["versions"][version].get("checkpoints", [])
                page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                                               request_key=listing.fingerprint("checkpoints", name))
                return _with_token({"checkpoints": page}, token)
            if verb == "deleteVersion" and method == "DELETE":
                check_query(request.query, frozenset())
                return self.delete_version(name, now)
        raise no_route(request)

    def route_endpoints(self, request: ApiRequest, parent: str, rest: list[str], now: float) -> dict[str, Any]:
        method, verb = request.method, request.verb
        if len(rest) == 1 and verb is None and method == "GET":
            return self.list_endpoints(request, parent)
        if len(rest) == 2:
            name = f"{parent}/endpoints/{rest[1]}"
            check_query(request.query, frozenset())
            if verb is None and method == "GET":
                return self.endpoint_view(self.endpoint(name))
            if verb is None and method == "DELETE":
                return self.delete_endpoint(name, now)
            if verb == "undeployModel" and method == "POST":
                return self.undeploy(request, name, now)
        raise no_route(request)

    # ================================================================== tuning jobs: lifecycle
    def job(self, name: str) -> dict[str, Any]:
        record = self.store["tuningJobs"].get(name)
        if record is None:
            raise not_found("TuningJob", name)
        return record

    @staticmethod
    def terminal_event(record: dict[str, Any]) -> tuple[float, str]:
        events = []
        if record.get("failAt") is not None:
            events.append((record["failAt"], "JOB_STATE_FAILED"))
        if record.get("cancelAt") is not None and not record.get("cancelIgnored"):
            events.append((record["cancelAt"] + CANCEL_DELAY, "JOB_STATE_CANCELLED"))
        else:
            events.append((record["created"] + record["duration"], "JOB_STATE_SUCCEEDED"))
        return min(events)

    def job_state(self, record: dict[str, Any], now: float) -> tuple[str, float]:
        """(state, time the job entered it)."""
        final = record.get("final")
        if final:
            return final["state"], final["end"]
        end, terminal_state = self.terminal_event(record)
        if now >= end:
            return terminal_state, end
        if record.get("cancelAt") is not None and now >= record["cancelAt"]:
            return "JOB_STATE_CANCELLING", record["cancelAt"]
        created, duration = record["created"], record["duration"]
        if now < created + QUEUED_FRACTION * duration:
            return "JOB_STATE_QUEUED", created
        if now < created + PENDING_FRACTION * duration:
            return "JOB_STATE_PENDING", created + QUEUED_FRACTION * duration
        return "JOB_STATE_RUNNING", created + PENDING_FRACTION * duration

    def due_times(self) -> list[float]:
        return [self.terminal_event(r)[0] for r in self.store["tuningJobs"].values() if not r.get("final")]

    def settle(self, now: float) -> None:
        """Record jobs that reached a terminal state; a success materialises its model and endpoints."""
        for record in self.store["tuningJobs"].values():
            if record.get("final"):
                continue
            end, terminal_state = self.terminal_event(record)
            if end > now:
                continue
            final: dict[str, Any] = {"state": terminal_state, "end": end}
            if terminal_state == "JOB_STATE_SUCCEEDED":
                final["tunedModel"] = self.materialize(record, end)
                final["experiment"] = (record["job"]["name"].split("/tuningJobs/")[0]
                                       + f"/metadataStores/default/contexts/tuning-experiment-{record['id']}")
            elif terminal_state == "JOB_STATE_CANCELLED":
                final["error"] = status("CANCELLED", "CANCELED")
            else:
                final["error"] = record["failError"]
            record["final"] = final
            self.store.changed()

    # ================================================================== tuning jobs: methods
    def create_job(self, request: ApiRequest, parent: str, now: float) -> dict[str, Any]:
        body = request.object_body()
        errors = Violations()
        job = coerce(JOB_SPECS[request.version], body, "tuning_job", errors)
        if errors:
            raise bad_request(errors)
        job = self.validate_job(job, parent)
        job_id = numeric_id(19, {n.rsplit("/", 1)[1] for n in self.store["tuningJobs"]})
        name = f"{parent}/tuningJobs/{job_id}"
        job = {"name": name, **job, "createTime": rfc3339(now)}
        spec = job.get("supervisedTuningSpec") or job.get("preferenceOptimizationSpec") or {}
        epochs = int(spec.get("hyperParameters", {}).get("epochCount") or DEFAULT_EPOCHS)
        record = {"id": job_id, "seq": self.store.next_seq(), "job": job, "created": now,
                  "duration": self.job_duration, "cancelAt": None, "cancelIgnored": False, "failAt": None,
                  "failError": None, "final": None, "epochs": epochs,
                  "examples": stable_int(spec.get("trainingDatasetUri", name), 100, 1000),
                  "beta": bool(_without_beta_fields(job) != job)}
        self.store["tuningJobs"][name] = record
        self.store.changed()
        self.settle(now)   # a zero job duration finishes at once
        return self.job_view(record, now, request.version)

    def validate_job(self, job: dict[str, Any], parent: str) -> dict[str, Any]:
        problems: list[tuple[str, str]] = []
        location = parent.split("/")[3]
        has_base, has_pre = bool(job.get("baseModel")), "preTunedModel" in job
        if has_base == has_pre:
            problems.append(("tuning_job.base_model", "Exactly one of base_model or pre_tuned_model must be set."))
        specs = [key for key in ("supervisedTuningSpec", "preferenceOptimizationSpec") if key in job]
        if len(specs) != 1:
            problems.append(("tuning_job.supervised_tuning_spec",
                             "Exactly one of supervised_tuning_spec or preference_optimization_spec must be set."))
        for key in specs:
            problems += _dataset_problems(job[key], f"tuning_job.{_snake_key(key)}")
        hyper = job.get(specs[0], {}).get("hyperParameters", {}) if specs else {}
        if "epochCount" in hyper and int(hyper["epochCount"]) <= 0:
            problems.append((f"tuning_job.{_snake_key(specs[0])}.hyper_parameters.epoch_count",
                             "epoch_count must be positive."))
        if "batchSize" in hyper and int(hyper["batchSize"]) <= 0:
            problems.append((f"tuning_job.{_snake_key(specs[0])}.hyper_parameters.batch_size",
                             "batch_size must be positive."))
        for key in ("learningRateMultiplier", "learningRate"):
            if key in hyper and hyper[key] <= 0:
                problems.append((f"tuning_job.{_snake_key(specs[0])}.hyper_parameters.{_snake_key(key)}",
                                 f"{_snake_key(key)} must be positive."))
        if "learningRate" in hyper and "learningRateMultiplier" in hyper:
            problems.append((f"tuning_job.{_snake_key(specs[0])}.hyper_parameters",
                             "learning_rate and learning_rate_multiplier cannot both be set."))
        if len(job.get("tunedModelDisplayName", "")) > 128:
            problems.append(("tuning_job.tuned_model_display_name",
                             "The tuned model display name can be at most 128 characters long."))
        problems += label_problems(job.get("labels", {}), "tuning_job.labels")
        kms = job.get("encryptionSpec", {}).get("kmsKeyName") if "encryptionSpec" in job else None
        if "encryptionSpec" in job:
            match = _KMS_RE.match(kms or "")
            if not match:
                problems.append(("tuning_job.encryption_spec.kms_key_name", "kms_key_name must look like "
                                 "projects/{p}/locations/{l}/keyRings/{r}/cryptoKeys/{k}."))
            elif match.group(1) != location:
                problems.append(("tuning_job.encryption_spec.kms_key_name",
                                 f"The KMS key must be in the job's region {location!r}."))
        if "serviceAccount" in job and not _EMAIL_RE.match(job["serviceAccount"]):
            problems.append(("tuning_job.service_account", "service_account must be a service account email."))
        if problems:
            raise bad_request(problems)
        if has_pre:
            job["preTunedModel"] = self.resolve_pre_tuned(job["preTunedModel"], job)
        elif not job.get("tunedModelDisplayName"):
            # The reference: "If unset, a random name is generated."
            job["tunedModelDisplayName"] = f"{job['baseModel'].rsplit('/', 1)[-1]}-tuned-{numeric_id(6)}"
        return job

    def resolve_pre_tuned(self, pre: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
        source = pre.get("tunedModelName", "")
        match = _MODEL_REF_RE.match(source)
        if not match:
            raise invalid("tuning_job.pre_tuned_model.tuned_model_name",
                          "tuned_model_name must be projects/{p}/locations/{l}/models/{m}[@version].")
        model, version = self.model_version(canonical(source))   # 404 NOT_FOUND when it does not exist
        checkpoint = pre.get("checkpointId")
        known = {c["checkpointId"] for c in model["versions"][version].get("checkpoints", [])}
        if checkpoint and known and checkpoint not in known:
            raise invalid("tuning_job.pre_tuned_model.checkpoint_id", f"Checkpoint {checkpoint!r} does not exist.")
        if not job.get("tunedModelDisplayName"):
            job["tunedModelDisplayName"] = model["displayName"]   # same name -> new version of that model
        return {**pre, "baseModel": model["versions"][version]["baseModel"]}

    def cancel_job(self, request: ApiRequest, name: str, now: float) -> dict[str, Any]:
        errors = Violations()
        coerce({"name": "string"}, request.object_body(), "", errors)   # CancelTuningJobRequest
        if errors:
            raise bad_request(errors)
        record = self.job(name)
        state, _ = self.job_state(record, now)
        if state in TERMINAL:
            # Not documented (reference: lifecycle fact 3); FAILED_PRECONDITION as for other job APIs.
            raise precondition(f"Cannot cancel tuning job {name} because it is already in state {state}.")
        if record.get("cancelAt") is None:
            record["cancelAt"] = now
            self.store.changed()
        return {}

    def list_jobs(self, request: ApiRequest, parent: str, now: float) -> dict[str, Any]:
        check_query(request.query, Q_LIST)
        prefix = parent + "/tuningJobs/"
        fields = {"state": "state", "display_name": "display_name", "displayName": "display_name",
                  "tuned_model_display_name": "display_name", "tunedModelDisplayName": "display_name",
                  "base_model": "base_model", "baseModel": "base_model", "create_time": "create_time",
                  "createTime": "create_time", "update_time": "update_time", "updateTime": "update_time",
                  "end_time": "end_time", "endTime": "end_time"}

        def resolve(record: dict[str, Any], field: str) -> Any:
            job = record["job"]
            if field == "labels":
                return job.get("labels")
            if field == "state":
                return self.job_state(record, now)[0]
            if field == "display_name":
                return job.get("tunedModelDisplayName")
            if field == "base_model":
                return job.get("baseModel") or job.get("preTunedModel", {}).get("baseModel")
            if field == "create_time":
                return record["created"]
            state, since = self.job_state(record, now)
            if field == "end_time":
                return since if state in TERMINAL else None
            return since

        predicate = listing.compile_filter(request.query.get("filter"), fields, resolve)
        items = [r for n, r in self.store["tuningJobs"].items() if n.startswith(prefix)]
        if predicate:
            items = [r for r in items if predicate(r)]
        # Order: creation order (oldest first); not documented by Google.
        page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                                       request_key=listing.fingerprint("tuningJobs", parent,
                                                                       request.query.get("filter", "")))
        jobs = [self.job_view(r, now, request.version) for r in page]
        return _with_token({"tuningJobs": jobs} if jobs else {}, token)

    def job_view(self, record: dict[str, Any], now: float, version: str = "v1beta1") -> dict[str, Any]:
        view = dict(record["job"])
        if version == "v1" and record.get("beta"):
            view = _without_beta_fields(view)
        state, since = self.job_state(record, now)
        view["state"] = state
        view["updateTime"] = rfc3339(since)
        started = record["created"] + PENDING_FRACTION * record["duration"]
        interruptions = [t for t in (record.get("failAt"),
                                     None if record.get("cancelIgnored") else record.get("cancelAt")) if t is not None]
        if now >= started and min(interruptions, default=started) >= started:
            view["startTime"] = rfc3339(started)
            view["tuningDataStats"] = self.data_stats(record)
        if state in TERMINAL:
            view["endTime"] = rfc3339(since)
        final = record.get("final") or {}
        if "error" in final:
            view["error"] = final["error"]
        elif state == "JOB_STATE_FAILED":
            view["error"] = record["failError"]
        elif state == "JOB_STATE_CANCELLED":
            view["error"] = status("CANCELLED", "CANCELED")
        if "tunedModel" in final:
            view["tunedModel"] = final["tunedModel"]
            view["experiment"] = final["experiment"]
        return view

    @staticmethod
    def data_stats(record: dict[str, Any]) -> dict[str, Any]:
        examples, epochs = record["examples"], record["epochs"]
        return {"supervisedTuningDataStats": {
            "tuningDatasetExampleCount": str(examples),
            "totalTuningCharacterCount": str(examples * 1200),
            "totalBillableTokenCount": str(examples * 300 * epochs),
            "tuningStepCount": str(math.ceil(examples * epochs / 16)),
        }}

    # ================================================================== success: model + endpoints
    def materialize(self, record: dict[str, Any], when: float) -> dict[str, Any]:
        job = record["job"]
        location_prefix = job["name"].split("/tuningJobs/")[0]
        labels = dict(job.get("labels", {}))
        display = job["tunedModelDisplayName"]
        spec = job.get("supervisedTuningSpec") or job.get("preferenceOptimizationSpec") or {}
        epochs = record["epochs"]
        steps_per_epoch = max(1, math.ceil(record["examples"] / 16))
        export_all = not spec.get("exportLastCheckpointOnly", False)
        checkpoints = [{"checkpointId": str(e), "epoch": str(e), "step": str(e * steps_per_epoch)}
                       for e in range(1, epochs + 1)] if export_all else []

        model = None
        if "preTunedModel" in job:
            source_name = canonical(job["preTunedModel"]["tunedModelName"]).split("@")[0]
            source = self.store["models"].get(source_name)
            if source is not None and source["displayName"] == display:
                model = source
        base_model = job.get("baseModel") or job["preTunedModel"].get("baseModel", "")
        stamp = rfc3339(when)
        if model is None:
            model_id = numeric_id(19, {n.rsplit("/", 1)[1] for n in self.store["models"]})
            model = {"name": f"{location_prefix}/models/{model_id}", "seq": self.store.next_seq(),
                     "displayName": display, "labels": labels, "createTime": stamp, "updateTime": stamp,
                     "versions": {}, "nextVersion": 1}
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
        versioned = f"{model['name']}@{version_id}"

        main = self.new_endpoint(location_prefix, display, labels, job, versioned, version_id,
                                 checkpoints[-1]["checkpointId"] if checkpoints else None, when)
        tuned: dict[str, Any] = {"model": versioned, "endpoint": main}
        if checkpoints:
            tuned["checkpoints"] = []
            for checkpoint in checkpoints[:-1]:
                endpoint = self.new_endpoint(location_prefix, f"{display} checkpoint {checkpoint['checkpointId']}",
                                             labels, job, versioned, version_id, checkpoint["checkpointId"], when)
                tuned["checkpoints"].append({**checkpoint, "endpoint": endpoint})
            tuned["checkpoints"].append({**checkpoints[-1], "endpoint": main})
        return tuned

    def new_endpoint(self, prefix: str, display: str, labels: dict[str, str], job: dict[str, Any], model: str,
                     version_id: str, checkpoint: str | None, when: float) -> str:
        endpoints = self.store["endpoints"]
        # Endpoint IDs starting with a digit are at most 9 digits without a leading zero (reference).
        name = f"{prefix}/endpoints/{numeric_id(9, {n.rsplit('/', 1)[1] for n in endpoints})}"
        stamp = rfc3339(when)
        deployed: dict[str, Any] = {"id": numeric_id(10), "model": model, "modelVersionId": version_id,
                                    "displayName": display[:128], "createTime": stamp}
        if checkpoint:
            deployed["checkpointId"] = checkpoint
        record: dict[str, Any] = {"name": name, "seq": self.store.next_seq(), "displayName": display[:128],
                                  "labels": dict(labels), "createTime": stamp, "updateTime": stamp,
                                  "deployedModels": [deployed], "trafficSplit": {deployed["id"]: 100}, "etagSeq": 0}
        if "encryptionSpec" in job:
            record["encryptionSpec"] = job["encryptionSpec"]
        endpoints[name] = record
        return name

    # ================================================================== models
    def model_version(self, name: str) -> tuple[dict[str, Any], str]:
        """Resolve `.../models/ID`, `ID@VERSION`, `ID@default` or `ID@-` to (model record, version id)."""
        base, _, suffix = name.partition("@")
        model = self.store["models"].get(base)
        if model is None or not model["versions"]:
            raise not_found("Model", name)
        if suffix in ("", "-", "default"):
            return model, self.default_version(model)
        if suffix not in model["versions"]:
            raise not_found("Model", name)
        return model, suffix

    @staticmethod
    def default_version(model: dict[str, Any]) -> str:
        # The `default` alias: the emulator keeps it on the newest version (a tune sets its new
        # version as default); the reference does not say how a continuous-tuning run moves it.
        return max(model["versions"], key=int)

    def deployments(self) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """model name (no version) -> [(endpoint name, DeployedModel)], rebuilt only after mutations."""
        key = (self.store.generation, id(self.store.state))
        if self._index_key != key:
            index: dict[str, list[tuple[str, dict[str, Any]]]] = {}
            for endpoint in self.store["endpoints"].values():
                for deployed in endpoint["deployedModels"]:
                    index.setdefault(deployed["model"].split("@")[0], []).append((endpoint["name"], deployed))
            self._index, self._index_key = index, key
        return self._index

    def model_view(self, model: dict[str, Any], version_id: str) -> dict[str, Any]:
        version = model["versions"][version_id]
        view: dict[str, Any] = {"name": model["name"], "versionId": version_id}
        if version_id == self.default_version(model):
            view["versionAliases"] = ["default"]
        view["versionCreateTime"] = version["createTime"]
        view["versionUpdateTime"] = version["updateTime"]
        if version.get("description"):
            view["versionDescription"] = version["description"]
        view["displayName"] = model["displayName"]
        if model.get("description"):
            view["description"] = model["description"]
        labels = {**model.get("labels", {}), **version.get("labels", {})}
        if labels:
            view["labels"] = labels
        view["etag"] = f"\"{model['seq']}-{version_id}-{version['etagSeq']}-{model.get('etagSeq', 0)}\""
        view["createTime"] = model["createTime"]
        view["updateTime"] = max(model["updateTime"], version["updateTime"])
        refs = []
        for endpoint, deployed in self.deployments().get(model["name"], []):
            if deployed.get("modelVersionId") == version_id:
                ref = {"endpoint": endpoint, "deployedModelId": deployed["id"]}
                if deployed.get("checkpointId"):
                    ref["checkpointId"] = deployed["checkpointId"]
                refs.append(ref)
        if refs:
            view["deployedModels"] = refs
        if version.get("checkpoints"):
            view["checkpoints"] = version["checkpoints"]
            view["defaultCheckpointId"] = version["defaultCheckpointId"]
        if version.get("encryptionSpec"):
            view["encryptionSpec"] = version["encryptionSpec"]
        return view

    _MODEL_FIELDS = {"model": "model", "display_name": "display_name", "displayName": "display_name",
                     "base_model_name": "base_model_name", "baseModelName": "base_model_name"}

    def _model_resolver(self, item: tuple[dict[str, Any], str], field: str) -> Any:
        model, version_id = item
        if field == "labels":
            return {**model.get("labels", {}), **model["versions"][version_id].get("labels", {})}
        if field == "model":
            return model["name"].rsplit("/", 1)[1]
        if field == "display_name":
            return model["displayName"]
        return model["versions"][version_id]["baseModel"].rsplit("/", 1)[-1]

    def list_models(self, request: ApiRequest, parent: str) -> dict[str, Any]:
        check_query(request.query, Q_MODEL_LIST)
        prefix = parent + "/models/"
        items = [(m, self.default_version(m)) for n, m in self.store["models"].items()
                 if n.startswith(prefix) and m["versions"]]
        predicate = listing.compile_filter(request.query.get("filter"), self._MODEL_FIELDS, self._model_resolver)
        if predicate:
            items = [item for item in items if predicate(item)]
        items = listing.order_items(items, request.query.get("orderBy"), {
            "display_name": lambda i: i[0]["displayName"], "displayName": lambda i: i[0]["displayName"],
            "create_time": lambda i: i[0]["createTime"], "createTime": lambda i: i[0]["createTime"],
            "update_time": lambda i: i[0]["updateTime"], "updateTime": lambda i: i[0]["updateTime"]})
        # readMask is accepted and ignored: full resources are always returned.
        key = listing.fingerprint("models", parent, request.query.get("filter", ""), request.query.get("orderBy", ""))
        page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX, request_key=key)
        return _with_token({"models": [self.model_view(m, v) for m, v in page]} if page else {}, token)

    def list_versions(self, request: ApiRequest, name: str) -> dict[str, Any]:
        check_query(request.query, Q_MODEL_LIST)
        model, _ = self.model_version(name.split("@")[0])
        items = [(model, v) for v in sorted(model["versions"], key=int)]
        predicate = listing.compile_filter(request.query.get("filter"), {}, self._model_resolver)  # labels only
        if predicate:
            items = [item for item in items if predicate(item)]
        version_of = lambda item: item[0]["versions"][item[1]]  # noqa: E731
        items = listing.order_items(items, request.query.get("orderBy"), {
            "create_time": lambda i: version_of(i)["createTime"], "createTime": lambda i: version_of(i)["createTime"],
            "update_time": lambda i: version_of(i)["updateTime"], "updateTime": lambda i: version_of(i)["updateTime"]})
        key = listing.fingerprint("versions", model["name"], request.query.get("filter", ""),
                                  request.query.get("orderBy", ""))
        page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX, request_key=key)
        return _with_token({"models": [self.model_view(m, v) for m, v in page]} if page else {}, token)

    def patch_model(self, request: ApiRequest, name: str, now: float) -> dict[str, Any]:
        mask_text = request.query.get("updateMask", "")
        if not mask_text.strip():
            raise invalid("update_mask", "update_mask is required.")
        paths = [camel(path.strip()) for path in mask_text.split(",") if path.strip()]
        allowed = {"displayName", "description", "labels", "versionDescription"}
        bad = [path for path in paths if path not in allowed]
        if bad:
            raise invalid("update_mask", f"Unsupported update_mask path {bad[0]!r}; updatable: "
                                         "display_name, description, labels, version_description.")
        errors = Violations()
        body = coerce(MODEL_PATCH_SPEC, request.object_body(), "model", errors)
        if errors:
            raise bad_request(errors)
        model, version_id = self.model_version(name)
        suffix = name.partition("@")[2]
        targets_version = suffix not in ("", "-")
        model_fields = {"displayName", "description"} & set(paths)
        if model_fields and "versionDescription" in paths:
            raise precondition("One request cannot update both model fields and version fields.")
        if targets_version and model_fields:
            raise precondition(f"{sorted(model_fields)[0]} is a model field; use the model name without "
                               "a version (or with @-) to update it.")
        if not targets_version and "versionDescription" in paths:
            raise precondition("version_description is a version field; name a version (model@N) to update it.")
        problems: list[tuple[str, str]] = []
        if "displayName" in paths and not (0 < len(body.get("displayName", "")) <= 128):
            problems.append(("model.display_name", "display_name is required and at most 128 characters."))
        if "labels" in paths:
            problems += label_problems(body.get("labels", {}), "model.labels")
        if problems:
            raise bad_request(problems)
        if body.get("etag") and body["etag"] != self.model_view(model, version_id)["etag"]:
            raise RpcError("ABORTED", "The etag does not match the current model; read it again and retry.")
        version = model["versions"][version_id]
        stamp = rfc3339(now)
        for path in paths:
            if path == "labels":
                (version if targets_version else model)["labels"] = body.get("labels", {})
            elif path == "versionDescription":
                version["description"] = body.get("versionDescription", "")
            else:
                model[path] = body.get(path, "")
        if targets_version:
            version["updateTime"], version["etagSeq"] = stamp, version["etagSeq"] + 1
        else:
            model["updateTime"], model["etagSeq"] = stamp, model.get("etagSeq", 0) + 1
        self.store.changed()
        return self.model_view(model, version_id)

    def delete_model(self, name: str, now: float) -> dict[str, Any]:
        if "@" in name:
            raise invalid("name", "models.delete takes a model name without a version; use :deleteVersion.")
        model, _ = self.model_version(name)
        deployed = self.deployments().get(model["name"], [])
        if deployed:
            endpoints = sorted({endpoint for endpoint, _ in deployed})
            raise precondition(f"Model {model['name']} is deployed to endpoint(s) {', '.join(endpoints)}; "
                               "undeploy it from every endpoint before deleting it.")
        del self.store["models"][model["name"]]
        self.store.changed()
        return self.operation(model["name"], "DeleteOperationMetadata", EMPTY_TYPE, now)

    def delete_version(self, name: str, now: float) -> dict[str, Any]:
        if "@" not in name:
            raise invalid("name", "models.deleteVersion needs a versioned name: models/{model}@{version}.")
        model, version_id = self.model_version(name)
        if len(model["versions"]) == 1:
            raise precondition(f"Version {version_id} is the only version of {model['name']}; "
                               "delete the model instead.")
        used = [endpoint for endpoint, deployed in self.deployments().get(model["name"], [])
                if deployed.get("modelVersionId") == version_id]
        if used:
            raise precondition(f"Version {version_id} of {model['name']} is deployed to endpoint(s) "
                               f"{', '.join(sorted(set(used)))}; undeploy it first.")
        del model["versions"][version_id]
        model["updateTime"] = rfc3339(now)
        self.store.changed()
        return self.operation(model["name"], "DeleteOperationMetadata", EMPTY_TYPE, now)

    # ================================================================== endpoints
    def endpoint(self, name: str) -> dict[str, Any]:
        record = self.store["endpoints"].get(name)
        if record is None:
            raise not_found("Endpoint", name)
        return record

    @staticmethod
    def endpoint_view(record: dict[str, Any]) -> dict[str, Any]:
        view = {key: record[key] for key in ("name", "displayName") }
        if record.get("description"):
            view["description"] = record["description"]
        if record.get("labels"):
            view["labels"] = record["labels"]
        view["etag"] = f"\"{record['seq']}-{record['etagSeq']}\""
        view["createTime"], view["updateTime"] = record["createTime"], record["updateTime"]
        if record["deployedModels"]:
            view["deployedModels"] = record["deployedModels"]
        if record["trafficSplit"]:
            view["trafficSplit"] = record["trafficSplit"]
        if record.get("encryptionSpec"):
            view["encryptionSpec"] = record["encryptionSpec"]
        return view

    def list_endpoints(self, request: ApiRequest, parent: str) -> dict[str, Any]:
        check_query(request.query, Q_MODEL_LIST)
        prefix = parent + "/endpoints/"
        fields = {"endpoint": "endpoint", "display_name": "display_name", "displayName": "display_name",
                  "base_model_name": "base_model_name", "baseModelName": "base_model_name"}

        def resolve(record: dict[str, Any], field: str) -> Any:
            if field == "labels":
                return record.get("labels")
            if field == "endpoint":
                return record["name"].rsplit("/", 1)[1]
            if field == "display_name":
                return record["displayName"]
            for deployed in record["deployedModels"]:   # base model of the first deployed model
                model = self.store["models"].get(deployed["model"].split("@")[0])
                version = (model or {}).get("versions", {}).get(deployed.get("modelVersionId", ""))
                if version:
                    return version["baseModel"].rsplit("/", 1)[-1]
            return None

        items = [r for n, r in self.store["endpoints"].items() if n.startswith(prefix)]
        predicate = listing.compile_filter(request.query.get("filter"), fields, resolve)
        if predicate:
            items = [r for r in items if predicate(r)]
        items = listing.order_items(items, request.query.get("orderBy"), {
            "display_name": lambda r: r["displayName"], "displayName": lambda r: r["displayName"],
            "create_time": lambda r: r["createTime"], "createTime": lambda r: r["createTime"],
            "update_time": lambda r: r["updateTime"], "updateTime": lambda r: r["updateTime"]})
        key = listing.fingerprint("endpoints", parent, request.query.get("filter", ""),
                                  request.query.get("orderBy", ""))
        page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX, request_key=key)
        return _with_token({"endpoints": [self.endpoint_view(r) for r in page]} if page else {}, token)

    def undeploy(self, request: ApiRequest, name: str, now: float) -> dict[str, Any]:
        errors = Violations()
        body = coerce(UNDEPLOY_SPEC, request.object_body(), "", errors)
        if errors:
            raise bad_request(errors)
        if not body.get("deployedModelId"):
            raise invalid("deployed_model_id", "deployed_model_id is required.")
        record = self.endpoint(name)
        remaining = [d for d in record["deployedModels"] if d["id"] != body["deployedModelId"]]
        if len(remaining) == len(record["deployedModels"]):
            raise not_found("DeployedModel", f"{name} deployedModels/{body['deployedModelId']}")
        split = body.get("trafficSplit")
        if split is not None:
            if set(split) - {d["id"] for d in remaining} or (split and sum(split.values()) != 100):
                raise invalid("traffic_split", "traffic_split must name remaining deployed models and sum to 100.")
            record["trafficSplit"] = {k: int(v) for k, v in split.items()}
        else:
            # Not specified by the reference: remaining deployed models keep their share, and when the
            # undeployed model carried traffic the first remaining one takes all of it.
            record["trafficSplit"] = ({remaining[0]["id"]: 100} if remaining else {})
        record["deployedModels"] = remaining
        record["updateTime"], record["etagSeq"] = rfc3339(now), record["etagSeq"] + 1
        self.store.changed()
        return self.operation(name, "UndeployModelOperationMetadata", TYPE + "UndeployModelResponse", now)

    def delete_endpoint(self, name: str, now: float) -> dict[str, Any]:
        record = self.endpoint(name)
        if record["deployedModels"]:
            ids = ", ".join(d["id"] for d in record["deployedModels"])
            raise precondition(f"Endpoint {name} still has deployed models ({ids}); undeploy them first.")
        del self.store["endpoints"][name]
        self.store.changed()
        return self.operation(name, "DeleteOperationMetadata", EMPTY_TYPE, now)

    # ================================================================== operations
    def operation(self, parent: str, metadata_type: str, response_type: str, now: float) -> dict[str, Any]:
        """Deletes and undeploys complete at once in the emulator: the operation is born done."""
        operations = self.store["operations"]
        name = f"{parent}/operations/{numeric_id(19, operations)}"
        stamp = rfc3339(now)
        operation = {"name": name,
                     "metadata": {"@type": TYPE + metadata_type,
                                  "genericMetadata": {"createTime": stamp, "updateTime": stamp}},
                     "done": True, "response": {"@type": response_type}}
        operations[name] = {"seq": self.store.next_seq(), "operation": operation}
        self.store.changed()
        return operation

    def find_operation(self, name: str) -> dict[str, Any]:
        operations = self.store["operations"]
        if name in operations:
            return operations[name]
        parts = name.split("/")
        if len(parts) == 6 and parts[4] == "operations":    # the flat form finds a nested operation too
            suffix = "/operations/" + parts[5]
            for key, record in operations.items():
                if key.startswith("/".join(parts[:4]) + "/") and key.endswith(suffix):
                    return record
        raise not_found("Operation", name)

    def operation_call(self, request: ApiRequest, parent: str, rest: list[str]) -> dict[str, Any]:
        method, verb = request.method, request.verb
        if not rest and method == "GET" and verb is None:
            check_query(request.query, Q_OPS_LIST)
            prefix = parent + "/"
            items = [r for n, r in self.store["operations"].items() if n.startswith(prefix)
                     and (n.count("/") == parent.count("/") + 2 or parent.count("/") == 3)]
            page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                                           request_key=listing.fingerprint("operations", parent,
                                                                           request.query.get("filter", "")))
            return _with_token({"operations": [r["operation"] for r in page]} if page else {}, token)
        if len(rest) == 1:
            name = f"{parent}/operations/{rest[0]}"
            if method == "GET" and verb is None:
                check_query(request.query, frozenset())
                return self.find_operation(name)["operation"]
            if method == "POST" and verb == "wait":
                check_query(request.query, frozenset({"timeout"}))
                return self.find_operation(name)["operation"]
            if method == "POST" and verb == "cancel":
                check_query(request.query, frozenset())
                self.find_operation(name)
                return {}   # every emulator operation is already done; cancel is best effort
            if method == "DELETE" and verb is None:
                check_query(request.query, frozenset())
                record = self.find_operation(name)
                del self.store["operations"][record["operation"]["name"]]
                self.store.changed()
                return {}
        raise no_route(request)

    # ================================================================== out-of-band (admin) mutations
    def admin_fail(self, name: str, error: dict[str, Any], now: float) -> None:
        record = self.job(name)
        state, _ = self.job_state(record, now)
        if state in TERMINAL:
            raise precondition(f"Tuning job {name} is already in a final state ({state}).")
        record["failAt"], record["failError"] = now, error
        self.store.changed()

    def admin_ignore_cancel(self, name: str) -> None:
        record = self.job(name)
        if record.get("final") and record["final"]["state"] == "JOB_STATE_CANCELLED":
            raise precondition(f"Tuning job {name} is already cancelled.")
        record["cancelIgnored"] = True
        self.store.changed()

    def admin_delete(self, name: str) -> bool:
        if "/models/" in name:
            model, version_id = self.model_version(name)
            if "@" in name and len(model["versions"]) > 1:
                del model["versions"][version_id]
            else:
                del self.store["models"][model["name"]]
        elif "/endpoints/" in name:
            self.endpoint(name)
            del self.store["endpoints"][name]
        else:
            return False
        self.store.changed()
        return True

    def admin_patch(self, name: str, fields: dict[str, Any], now: float) -> bool:
        stamp = rfc3339(now)
        if "/tuningJobs/" in name:
            target = self.job(name)["job"]     # labels and description only; no updateTime on jobs
        elif "/models/" in name:
            model, version_id = self.model_version(name)
            version = model["versions"][version_id]
            if "@" in name and "labels" in fields:      # version labels, as models.patch on model@N does
                version["labels"] = fields.pop("labels")
                version["updateTime"], version["etagSeq"] = stamp, version["etagSeq"] + 1
            target = model
            target["updateTime"] = stamp
            target["etagSeq"] = target.get("etagSeq", 0) + 1
        elif "/endpoints/" in name:
            target = self.endpoint(name)
            target["updateTime"], target["etagSeq"] = stamp, target["etagSeq"] + 1
        else:
            return False
        for key, value in fields.items():
            if "/tuningJobs/" in name and key == "displayName":
                key = "tunedModelDisplayName"
            target[key] = value
        self.store.changed()
        return True


def _without_beta_fields(job: dict[str, Any]) -> dict[str, Any]:
    """A job created through v1beta1 read through v1: v1 has no batchSize, learningRate or tuningMode."""
    spec = job.get("supervisedTuningSpec")
    if not spec:
        return job
    trimmed = {k: v for k, v in spec.items() if k != "tuningMode"}
    if "hyperParameters" in spec:
        trimmed["hyperParameters"] = {k: v for k, v in spec["hyperParameters"].items()
                                      if k not in ("batchSize", "learningRate")}
    return {**job, "supervisedTuningSpec": trimmed}


def _dataset_problems(spec: dict[str, Any], path: str) -> list[tuple[str, str]]:
    problems = []
    for key, required in (("trainingDatasetUri", True), ("validationDatasetUri", False)):
        uri = spec.get(key)
        field = f"{path}.{_snake_key(key)}"
        if not uri:
            if required:
                problems.append((field, f"{_snake_key(key)} is required."))
            continue
        if not (uri.startswith("gs://") and len(uri) > 5) and "/datasets/" not in uri:
            problems.append((field, f"{_snake_key(key)} must be a Cloud Storage URI (gs://...) or a Vertex AI "
                                    "dataset resource name."))
    evaluation = spec.get("evaluationConfig")
    if evaluation is not None:
        if not evaluation.get("metrics"):
            problems.append((f"{path}.evaluation_config.metrics", "metrics is required."))
        if not evaluation.get("outputConfig", {}).get("gcsDestination", {}).get("outputUriPrefix"):
            problems.append((f"{path}.evaluation_config.output_config",
                             "output_config.gcs_destination.output_uri_prefix is required."))
    return problems


def _snake_key(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def _with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token:
        body["nextPageToken"] = token
    return body
