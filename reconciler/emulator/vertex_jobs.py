"""Vertex AI tuningJobs: create (validated), get, list, cancel; the lifecycle on the virtual clock, and what a
successful job leaves behind (a model version, its endpoint, checkpoint endpoints)."""

from __future__ import annotations

import math
import re
from typing import Any

from . import listing
from .clock import Clock, rfc3339
from .names import canonical, numeric_id, stable_int
from .routing import ApiRequest, check_query
from .rpc import bad_request, invalid, precondition, status
from .schema import ANY, MAP, OUT, Enum, Violations, coerce, label_problems
from .store import Store
from .vertex_operations import LIST_DEFAULT, LIST_MAX

CANCEL_DELAY = 5.0                      # virtual seconds spent in JOB_STATE_CANCELLING
DEFAULT_EPOCHS = 3                      # the service picks epochs from the dataset size; we pick 3
QUEUED_FRACTION, PENDING_FRACTION = 0.1, 0.2   # of the job duration: QUEUED, then PENDING, then RUNNING
Q_LIST = frozenset({"filter", "pageSize", "pageToken"})

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

_KMS_RE = re.compile(r"^projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
_MODEL_REF_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/models/([^/@]+)(?:@([^/]+))?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class TuningJobs:
    store: Store
    clock: Clock
    job_duration: float

    def job(self, name: str) -> dict[str, Any]:
        return self.store.require("tuningJobs", name, "TuningJob")

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
        return listing.with_token({"tuningJobs": jobs} if jobs else {}, token)

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
