"""The TuningJob request schema of each API version, and the checks create makes on a coerced job."""

from __future__ import annotations

import re
from typing import Any

from ..schema import LIST, OUT, Enum, label_problems, snake
from .discovery import message_spec, vendored

# ------------------------------------------------------------------ request schemas (reference: TuningJob)
ADAPTER_SIZE = Enum("google.cloud.aiplatform.v1.SupervisedHyperParameters.AdapterSize", {
    "ADAPTER_SIZE_UNSPECIFIED": 0, "ADAPTER_SIZE_ONE": 1, "ADAPTER_SIZE_TWO": 6, "ADAPTER_SIZE_FOUR": 2,
    "ADAPTER_SIZE_EIGHT": 3, "ADAPTER_SIZE_SIXTEEN": 4, "ADAPTER_SIZE_THIRTY_TWO": 5})
TUNING_MODE = Enum("google.cloud.aiplatform.v1beta1.SupervisedTuningSpec.TuningMode", {
    "TUNING_MODE_UNSPECIFIED": 0, "TUNING_MODE_FULL": 1, "TUNING_MODE_PEFT_ADAPTER": 2})

def _job_spec(version: str) -> dict[str, Any]:
    """Every TuningJob field of the published discovery document of `version` (vendored beside this file)."""
    subset = vendored(version)
    enums = {tuple(e.numbers): e for e in (ADAPTER_SIZE, TUNING_MODE)}
    return message_spec(subset["schemas"], subset["root"], enums)


JOB_SPECS = {version: _job_spec(version) for version in ("v1", "v1beta1")}
# The oneof tuning_spec of each version: every `...Spec` message of the TuningJob but encryptionSpec.
TUNING_SPECS = {version: tuple(sorted(k for k, v in spec.items()
                                      if k.endswith("Spec") and k != "encryptionSpec" and v != OUT))
                for version, spec in JOB_SPECS.items()}

_KMS_RE = re.compile(r"^projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def tuning_spec(job: dict[str, Any]) -> dict[str, Any]:
    """The job's tuning spec, whichever of the oneof it is ({} for none)."""
    return next((job[key] for key in TUNING_SPECS["v1beta1"] if isinstance(job.get(key), dict)), {})


def job_problems(job: dict[str, Any], parent: str, version: str = "v1") -> list[tuple[str, str]]:
    """The field violations of a coerced TuningJob created under `parent` (empty when it is valid)."""
    problems: list[tuple[str, str]] = []
    location = parent.split("/")[3]
    if bool(job.get("baseModel")) == ("preTunedModel" in job):
        problems.append(("tuning_job.base_model", "Exactly one of base_model or pre_tuned_model must be set."))
    if job.get("customBaseModel") and not job.get("baseModel"):
        problems.append(("tuning_job.base_model", "base_model must be set with custom_base_model."))
    specs = [key for key in TUNING_SPECS[version] if key in job]
    if len(specs) != 1:
        problems.append(("tuning_job.supervised_tuning_spec",
                         f"Exactly one of {', '.join(snake(k) for k in TUNING_SPECS[version])} must be set."))
    for key in specs:
        problems += _dataset_problems(job[key], f"tuning_job.{snake(key)}",
                                      required=key in TUNING_SPECS["v1"])
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


def _dataset_problems(spec: dict[str, Any], path: str, required: bool = True) -> list[tuple[str, str]]:
    """A required training dataset (Gemini supervised and preference tuning; the other v1beta1 specs document
    other inputs, e.g. promptDatasetUri) and the form of the dataset URIs given."""
    problems = []
    for key, required in (("trainingDatasetUri", required), ("validationDatasetUri", False)):
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
    if isinstance(evaluation, dict):
        if not evaluation.get("metrics"):
            problems.append((f"{path}.evaluation_config.metrics", "metrics is required."))
        if not evaluation.get("outputConfig", {}).get("gcsDestination", {}).get("outputUriPrefix"):
            problems.append((f"{path}.evaluation_config.output_config",
                             "output_config.gcs_destination.output_uri_prefix is required."))
    return problems


def without_beta_fields(job: dict[str, Any]) -> dict[str, Any]:
    """A job created through v1beta1 read through v1: only the fields v1 has (no batchSize, learningRate,
    tuningMode, distillationSpec, ...)."""
    return _trim(JOB_SPECS["v1"], job)


def _trim(spec: Any, value: Any) -> Any:
    if isinstance(spec, dict) and isinstance(value, dict):
        return {k: _trim(spec[k], v) for k, v in value.items() if k in spec}
    if isinstance(spec, LIST) and isinstance(value, list):
        return [_trim(spec.item, v) for v in value]
    return value
