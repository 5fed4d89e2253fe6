"""The TuningJob request schema of each API version, and the checks create makes on a coerced job."""

from __future__ import annotations

import re
from typing import Any

from ..schema import ANY, MAP, OUT, Enum, label_problems, snake

# ------------------------------------------------------------------ request schemas (reference: TuningJob)
ADAPTER_SIZE = Enum("google.cloud.aiplatform.v1.SupervisedHyperParameters.AdapterSize", {
    "ADAPTER_SIZE_UNSPECIFIED": 0, "ADAPTER_SIZE_ONE": 1, "ADAPTER_SIZE_TWO": 6, "ADAPTER_SIZE_FOUR": 2,
    "ADAPTER_SIZE_EIGHT": 3, "ADAPTER_SIZE_SIXTEEN": 4, "ADAPTER_SIZE_THIRTY_TWO": 5})
TUNING_MODE = Enum("google.cloud.aiplatform.v1beta1.SupervisedTuningSpec.TuningMode", {
    "TUNING_MODE_UNSPECIFIED": 0, "TUNING_MODE_FULL": 1, "TUNING_MODE_PEFT_ADAPTER": 2})

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
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def job_problems(job: dict[str, Any], parent: str) -> list[tuple[str, str]]:
    """The field violations of a coerced TuningJob created under `parent` (empty when it is valid)."""
    problems: list[tuple[str, str]] = []
    location = parent.split("/")[3]
    if bool(job.get("baseModel")) == ("preTunedModel" in job):
        problems.append(("tuning_job.base_model", "Exactly one of base_model or pre_tuned_model must be set."))
    specs = [key for key in ("supervisedTuningSpec", "preferenceOptimizationSpec") if key in job]
    if len(specs) != 1:
        problems.append(("tuning_job.supervised_tuning_spec",
                         "Exactly one of supervised_tuning_spec or preference_optimization_spec must be set."))
    for key in specs:
        problems += _dataset_problems(job[key], f"tuning_job.{snake(key)}")
    hyper = job.get(specs[0], {}).get("hyperParameters", {}) if specs else {}
    if "epochCount" in hyper and int(hyper["epochCount"]) <= 0:
        problems.append((f"tuning_job.{snake(specs[0])}.hyper_parameters.epoch_count",
                         "epoch_count must be positive."))
    if "batchSize" in hyper and int(hyper["batchSize"]) <= 0:
        problems.append((f"tuning_job.{snake(specs[0])}.hyper_parameters.batch_size",
                         "batch_size must be positive."))
    for key in ("learningRateMultiplier", "learningRate"):
        if key in hyper and hyper[key] <= 0:
            problems.append((f"tuning_job.{snake(specs[0])}.hyper_parameters.{snake(key)}",
                             f"{snake(key)} must be positive."))
    if "learningRate" in hyper and "learningRateMultiplier" in hyper:
        problems.append((f"tuning_job.{snake(specs[0])}.hyper_parameters",
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
    return problems


def _dataset_problems(spec: dict[str, Any], path: str) -> list[tuple[str, str]]:
    problems = []
    for key, required in (("trainingDatasetUri", True), ("validationDatasetUri", False)):
        uri = spec.get(key)
        field = f"{path}.{snake(key)}"
        if not uri:
            if required:
                problems.append((field, f"{snake(key)} is required."))
            continue
        if not (uri.startswith("gs://") and len(uri) > 5) and "/datasets/" not in uri:
            problems.append((field, f"{snake(key)} must be a Cloud Storage URI (gs://...) or a Vertex AI "
                                    "dataset resource name."))
    evaluation = spec.get("evaluationConfig")
    if evaluation is not None:
        if not evaluation.get("metrics"):
            problems.append((f"{path}.evaluation_config.metrics", "metrics is required."))
        if not evaluation.get("outputConfig", {}).get("gcsDestination", {}).get("outputUriPrefix"):
            problems.append((f"{path}.evaluation_config.output_config",
                             "output_config.gcs_destination.output_uri_prefix is required."))
    return problems


def without_beta_fields(job: dict[str, Any]) -> dict[str, Any]:
    """A job created through v1beta1 read through v1: v1 has no batchSize, learningRate or tuningMode."""
    spec = job.get("supervisedTuningSpec")
    if not spec:
        return job
    trimmed = {k: v for k, v in spec.items() if k != "tuningMode"}
    if "hyperParameters" in spec:
        trimmed["hyperParameters"] = {k: v for k, v in spec["hyperParameters"].items()
                                      if k not in ("batchSize", "learningRate")}
    return {**job, "supervisedTuningSpec": trimmed}
