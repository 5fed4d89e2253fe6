"""The desired state: manifest models, their canonical form, the spec digest and the JSON Schema.

A manifest is validated by the frozen pydantic models below (structure, types, per-field rules and the
rules that tie fields of one document together). `manifests` loads files into these models, adds what
needs the other documents (names, `fromManifest`, example files) and builds `DesiredResource` values.

Field names are the APIs' own camelCase names, so the model attributes are camelCase too: a pydantic
error `loc` is then exactly the path of keys in the YAML document.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag,
                      TypeAdapter, WithJsonSchema, model_validator)
from pydantic_core import PydanticCustomError

from reconciler.errors import Diagnostic
from reconciler.payloads import OWNERSHIP_LABELS

API_VERSION = "reconciler/v1"
KIND = "TunedModel"
PLATFORMS = ("vertex", "gemini-api")
Platform = Literal["vertex", "gemini-api"]

DIGEST_ALGORITHM = "sha256/v1"

MUTABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "vertex": ("displayName", "description", "labels"),
    "gemini-api": ("displayName", "description", "temperature", "topP", "topK"),
}
IMMUTABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "vertex": ("baseModel", "preTunedModel", "training", "hyperParameters", "exportLastCheckpointOnly",
               "evaluationConfig", "serviceAccount", "encryption"),
    "gemini-api": ("baseModel", "tunedModelSource", "hyperParameters", "training"),
}

# Labels the executor puts on every Vertex resource it creates; a user label must not shadow them.
RESERVED_LABEL_PREFIX = "aiplatform.googleapis.com/"
MAX_LABELS = 64 - len(OWNERSHIP_LABELS)
MAX_LABEL_LENGTH = 63  # the reference says 64 code points; GCP's usual limit of 63 is safe everywhere

MAX_NAME_LENGTH = {"vertex": 63, "gemini-api": 31}  # gemini-api: tunedModelId = name-<8 hex> ≤ 40
NAME_PATTERN = re.compile(r"[a-z]([a-z0-9-]*[a-z0-9])?")
TUNED_MODEL_ID_PATTERN = re.compile(r"[a-z]([a-z0-9-]{0,38}[a-z0-9])?")

# Rank written by people -> the API's enum name. The enum *numbers* are not in rank order
# (ADAPTER_SIZE_TWO is 6, ADAPTER_SIZE_FOUR is 2), so numbers in a manifest always mean the rank.
ADAPTER_SIZES = {1: "ADAPTER_SIZE_ONE", 2: "ADAPTER_SIZE_TWO", 4: "ADAPTER_SIZE_FOUR",
                 8: "ADAPTER_SIZE_EIGHT", 16: "ADAPTER_SIZE_SIXTEEN", 32: "ADAPTER_SIZE_THIRTY_TWO"}

AGGREGATION_METRICS = ("AVERAGE", "MODE", "STANDARD_DEVIATION", "VARIANCE", "MINIMUM", "MAXIMUM",
                       "MEDIAN", "PERCENTILE_P90", "PERCENTILE_P95", "PERCENTILE_P99")
METRIC_SPECS = ("pointwiseMetricSpec", "pairwiseMetricSpec", "exactMatchSpec", "bleuSpec", "rougeSpec",
                "llmBasedMetricSpec", "predefinedMetricSpec", "computationBasedMetricSpec",
                "customCodeExecutionSpec")


def invalid(message: str, at: str = "") -> PydanticCustomError:
    """A validation failure with our own message; `at` (dotted) locates it below the failing model."""
    return PydanticCustomError("reconciler", "{message}", {"message": message, "at": at})


# ---------------------------------------------------------------------------------------------------
# Constrained strings


def _check_name(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise invalid(f"invalid name {value!r}: use lowercase letters, digits and '-', starting with a "
                      "letter and not ending with '-'")
    if len(value) > MAX_NAME_LENGTH["vertex"]:
        raise invalid(f"name {value!r} is too long ({len(value)} characters; at most "
                      f"{MAX_NAME_LENGTH['vertex']})")
    return value


def _label_chars_ok(text: str) -> bool:
    return all(c in "_-" or c in "0123456789" or (c.isalpha() and c.islower()) for c in text)


def _check_label_key(key: str) -> str:
    if key.startswith(RESERVED_LABEL_PREFIX):
        raise invalid(f"label key {key!r} uses the reserved prefix {RESERVED_LABEL_PREFIX!r}")
    if key in OWNERSHIP_LABELS:
        raise invalid(f"label key {key!r} is reserved for reconciler's ownership labels")
    if not key or not (key[0].isalpha() and key[0].islower()) or not _label_chars_ok(key):
        raise invalid(f"invalid label key {key!r}: use lowercase letters, digits, '_' and '-', "
                      "starting with a lowercase letter")
    if len(key) > MAX_LABEL_LENGTH:
        raise invalid(f"label key {key!r} is too long ({len(key)} characters; at most {MAX_LABEL_LENGTH})")
    return key


def _check_label_value(value: str) -> str:
    if not _label_chars_ok(value):
        raise invalid(f"invalid label value {value!r}: use lowercase letters, digits, '_' and '-'")
    if len(value) > MAX_LABEL_LENGTH:
        raise invalid(f"label value is too long ({len(value)} characters; at most {MAX_LABEL_LENGTH})")
    return value


_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]")
_IPV4 = re.compile(r"\d+\.\d+\.\d+\.\d+")


def _bucket_problem(bucket: str) -> str | None:
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        return (f"invalid bucket name {bucket!r}: 3-63 lowercase letters, digits, '-', '_' or '.', "
                "starting and ending with a letter or digit")
    if bucket.startswith("goog") or _IPV4.fullmatch(bucket):
        return f"invalid bucket name {bucket!r}: names starting with 'goog' or shaped like an IP address are refused"
    return None


def _check_gcs_object(value: str) -> str:
    bucket, slash, obj = value.removeprefix("gs://").partition("/")
    if not value.startswith("gs://") or not slash or not obj:
        raise invalid(f"{value!r} is not a Cloud Storage object URI; expected gs://BUCKET/OBJECT")
    if problem := _bucket_problem(bucket):
        raise invalid(problem)
    return value


_DATASET_NAME = re.compile(r"projects/[^/\s]+/locations/[^/\s]+/datasets/[^/\s]+")


def _check_dataset(value: str) -> str:
    if value.startswith("projects/"):
        if not _DATASET_NAME.fullmatch(value):
            raise invalid(f"{value!r} is not a Vertex dataset name; expected "
                          "projects/PROJECT/locations/LOCATION/datasets/DATASET")
        return value
    if not value.startswith("gs://"):
        raise invalid(f"{value!r} is neither gs://BUCKET/OBJECT nor a Vertex dataset resource name")
    return _check_gcs_object(value)


def _check_gcs_prefix(value: str) -> str:
    bucket = value.removeprefix("gs://").partition("/")[0]
    if not value.startswith("gs://") or not bucket:
        raise invalid(f"{value!r} is not a Cloud Storage URI prefix; expected gs://BUCKET/PATH/")
    if problem := _bucket_problem(bucket):
        raise invalid(problem)
    return value


KMS_KEY_PATTERN = re.compile(r"projects/([^/\s]+)/locations/([^/\s]+)/keyRings/([^/\s]+)/cryptoKeys/([^/\s]+)")


def _matching(pattern: str | re.Pattern, message: str):
    """A validator: the whole value matches `pattern`, else `message` (with {value} filled in)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise invalid(message.format(value=repr(value)))
        return value

    return check


_check_kms_key = _matching(KMS_KEY_PATTERN, "{value} is not a Cloud KMS key name; expected "
                                            "projects/PROJECT/locations/REGION/keyRings/RING/cryptoKeys/KEY")
_check_email = _matching(r"[^@\s]+@[^@\s]+\.[^@\s.]+",
                         "{value} is not a service account email, e.g. tuner@PROJECT.iam.gserviceaccount.com")
_check_project = _matching(r"[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20}",
                           "{value} is not a Google Cloud project ID (6-30 lowercase letters, digits and '-', "
                           "starting with a letter) or project number")
_check_location = _matching(r"[a-z][a-z0-9-]*[a-z0-9]", "{value} is not a Vertex AI location such as us-central1")
_check_vertex_tuned_model = _matching(r"projects/[^/\s]+/locations/[^/\s]+/models/[^/\s@]+(@[A-Za-z0-9-]+)?",
                                      "{value} is not a Vertex model name; expected "
                                      "projects/PROJECT/locations/LOCATION/models/MODEL[@VERSION]")


def _check_prefixed(prefix: str, example: str):
    return _matching(re.escape(prefix) + r"[a-z0-9][a-z0-9._-]*", "{value} must look like " + example)


def _check_vertex_base_model(value: str) -> str:
    if not value or any(c.isspace() for c in value):
        raise invalid(f"{value!r} is not a base model name, e.g. gemini-2.5-flash")
    return value


def _parse_adapter_size(value: Any) -> str:
    if isinstance(value, bool):
        raise invalid(f"invalid value {value!r}; expected the rank 1, 2, 4, 8, 16 or 32, or an enum name")
    if isinstance(value, int) and value in ADAPTER_SIZES:
        return ADAPTER_SIZES[value]
    if isinstance(value, str) and value in ADAPTER_SIZES.values():
        return value
    suggestion = ""
    if isinstance(value, str):
        from difflib import get_close_matches

        close = get_close_matches(value, ADAPTER_SIZES.values(), n=1)
        suggestion = f"; did you mean {close[0]!r}?" if close else ""
    raise invalid(f"invalid value {value!r}; expected the rank 1, 2, 4, 8, 16 or 32, or an enum name "
                  f"such as ADAPTER_SIZE_FOUR{suggestion}")


def _int_as_string(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Name = Annotated[str, AfterValidator(_check_name),
                 Field(description="DNS-label-like name: lowercase letters, digits and '-'",
                       json_schema_extra={"pattern": "^[a-z]([a-z0-9-]*[a-z0-9])?$", "maxLength": 63})]
LabelKey = Annotated[str, AfterValidator(_check_label_key)]
LabelValue = Annotated[str, AfterValidator(_check_label_value)]
Labels = dict[LabelKey, LabelValue]
DatasetUri = Annotated[str, AfterValidator(_check_dataset),
                       Field(description="gs://BUCKET/OBJECT.jsonl or projects/P/locations/L/datasets/D")]
GcsPrefix = Annotated[str, AfterValidator(_check_gcs_prefix)]
KmsKeyName = Annotated[str, AfterValidator(_check_kms_key)]
ServiceAccount = Annotated[str, AfterValidator(_check_email)]
ProjectId = Annotated[str, AfterValidator(_check_project)]
Location = Annotated[str, AfterValidator(_check_location)]
AdapterSize = Annotated[str, BeforeValidator(_parse_adapter_size),
                        WithJsonSchema({"enum": [*ADAPTER_SIZES, *ADAPTER_SIZES.values()],
                                        "description": "LoRA adapter rank (1, 2, 4, 8, 16, 32) or enum name"})]
PositiveInt = Annotated[int, Field(ge=1, le=2**31 - 1)]  # int32 on the wire
PositiveFloat = Annotated[float, Field(gt=0)]
UnitFloat = Annotated[float, Field(ge=0, le=1)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", field_title_generator=lambda name, _: name)


def _written(model: BaseModel, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if getattr(model, name) is not None]


def _require_one_of(model: BaseModel, names: tuple[str, ...], *, optional: bool = False) -> None:
    written = _written(model, names)
    if len(written) > 1:
        raise invalid(f"set only one of {' or '.join(written)}", at=written[1])
    if not written and not optional:
        raise invalid(f"set one of {' or '.join(names)}")


# ---------------------------------------------------------------------------------------------------
# Manifest models


class Policy(_Model):
    """What the reconciler may do to the live resource; never part of the digest."""

    protect: bool = Field(False, description="true: never cancel, retire or delete this resource")
    onDelete: Literal["delete", "orphan"] = Field(
        "delete", description="what removing the manifest does: delete the live resource, or forget it")
    whileRunning: Literal["restart", "wait"] = Field(
        "restart", description="what a spec edit does to a running job: cancel and restart, or wait")
    previousVersion: Literal["retire", "keep"] = Field(
        "retire", description="the old model after a successful retrain: retire (delete) it, or keep it")


class Metadata(_Model):
    name: Name
    labels: Labels = Field(default_factory=dict, description="copied onto live Vertex resources")


class PreTunedModel(_Model):
    """Continuous tuning: start from a tuned model, named directly or by the manifest that owns it."""

    tunedModelName: Annotated[str, AfterValidator(_check_vertex_tuned_model)] | None = None
    checkpointId: Annotated[str, BeforeValidator(_int_as_string), Field(pattern=r"^[0-9]+$")] | None = None
    fromManifest: Name | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PreTunedModel:
        _require_one_of(self, ("tunedModelName", "fromManifest"))
        return self


class VertexTraining(_Model):
    dataset: DatasetUri
    validationDataset: DatasetUri | None = None


class VertexHyperParameters(_Model):
    epochCount: PositiveInt | None = None
    adapterSize: AdapterSize | None = None
    learningRateMultiplier: PositiveFloat | None = None


class Metric(_Model):
    pointwiseMetricSpec: dict[str, Any] | None = None
    pairwiseMetricSpec: dict[str, Any] | None = None
    exactMatchSpec: dict[str, Any] | None = None
    bleuSpec: dict[str, Any] | None = None
    rougeSpec: dict[str, Any] | None = None
    llmBasedMetricSpec: dict[str, Any] | None = None
    predefinedMetricSpec: dict[str, Any] | None = None
    computationBasedMetricSpec: dict[str, Any] | None = None
    customCodeExecutionSpec: dict[str, Any] | None = None
    aggregationMetrics: list[Literal[AGGREGATION_METRICS]] | None = None  # type: ignore[valid-type]
    metadata: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_spec(self) -> Metric:
        _require_one_of(self, METRIC_SPECS)
        return self


class GcsDestination(_Model):
    outputUriPrefix: GcsPrefix


class OutputConfig(_Model):
    gcsDestination: GcsDestination


class AutoraterConfig(_Model):
    autoraterModel: str | None = None
    samplingCount: Annotated[int, Field(ge=1, le=32)] | None = None
    flipEnabled: bool | None = None
    generationConfig: dict[str, Any] | None = None


class EvaluationConfig(_Model):
    metrics: Annotated[list[Metric], Field(min_length=1)]
    outputConfig: OutputConfig
    autoraterConfig: AutoraterConfig | None = None
    inferenceGenerationConfig: dict[str, Any] | None = None
    datasetCustomMetrics: list[dict[str, Any]] | None = None


class Encryption(_Model):
    kmsKeyName: KmsKeyName


class VertexSpec(_Model):
    platform: Literal["vertex"]
    project: ProjectId | None = Field(None, description="defaults to reconciler.yaml defaults.project")
    location: Location | None = Field(None, description="defaults to reconciler.yaml defaults.location")
    baseModel: Annotated[str, AfterValidator(_check_vertex_base_model)] | None = Field(
        None, description="e.g. gemini-2.5-flash; or use preTunedModel")
    preTunedModel: PreTunedModel | None = None
    displayName: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    description: str | None = None
    training: VertexTraining
    hyperParameters: VertexHyperParameters | None = None
    exportLastCheckpointOnly: bool | None = None
    evaluationConfig: EvaluationConfig | None = None
    serviceAccount: ServiceAccount | None = None
    encryption: Encryption | None = None
    policy: Policy = Field(default_factory=Policy)

    @model_validator(mode="after")
    def _consistent(self) -> VertexSpec:
        _require_one_of(self, ("baseModel", "preTunedModel"))
        missing = [scope for scope in ("project", "location") if getattr(self, scope) is None]
        if missing:
            fields = "field" if len(missing) == 1 else "fields"
            raise invalid(f"missing required {fields} {' and '.join(repr(m) for m in missing)}: set it in spec "
                          "or under defaults in reconciler.yaml")
        if self.encryption:
            key_region = KMS_KEY_PATTERN.fullmatch(self.encryption.kmsKeyName).group(2)
            if key_region != self.location:
                raise invalid(f"the KMS key is in {key_region!r} but the job runs in {self.location!r}; "
                              "the key must be in the job's region", at="encryption.kmsKeyName")
        return self


class TuningExample(_Model):
    textInput: Annotated[str, Field(min_length=1)]
    output: Annotated[str, Field(min_length=1)]


def _examples_kind(value: Any) -> str:
    return "file" if isinstance(value, str) else "inline"


ExamplesFile = Annotated[str, Field(min_length=1, description="path of a JSONL file, relative to this manifest")]
Examples = Annotated[
    Union[Annotated[list[TuningExample], Tag("inline"), Field(min_length=1)], Annotated[ExamplesFile, Tag("file")]],
    Discriminator(_examples_kind),
]


class GeminiTraining(_Model):
    examples: Examples


class TunedModelSource(_Model):
    fromManifest: Name | None = None
    tunedModel: Annotated[str, AfterValidator(_check_prefixed("tunedModels/", "tunedModels/ID"))] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TunedModelSource:
        _require_one_of(self, ("fromManifest", "tunedModel"))
        return self


class GeminiHyperParameters(_Model):
    epochCount: PositiveInt | None = None
    batchSize: PositiveInt | None = None
    learningRate: PositiveFloat | None = None
    learningRateMultiplier: PositiveFloat | None = None

    @model_validator(mode="after")
    def _one_learning_rate(self) -> GeminiHyperParameters:
        _require_one_of(self, ("learningRate", "learningRateMultiplier"), optional=True)
        return self


class GeminiSpec(_Model):
    platform: Literal["gemini-api"]
    baseModel: Annotated[str, AfterValidator(_check_prefixed("models/", "models/gemini-1.5-flash-001-tuning"))] | None = None
    tunedModelSource: TunedModelSource | None = None
    displayName: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    description: str | None = None
    training: GeminiTraining
    hyperParameters: GeminiHyperParameters | None = None
    temperature: UnitFloat | None = None
    topP: UnitFloat | None = None
    topK: PositiveInt | None = None
    policy: Policy = Field(default_factory=Policy)

    @model_validator(mode="after")
    def _one_source(self) -> GeminiSpec:
        _require_one_of(self, ("baseModel", "tunedModelSource"))
        return self


Spec = Annotated[Union[VertexSpec, GeminiSpec], Field(discriminator="platform")]


class TunedModel(_Model):
    """One manifest document."""

    apiVersion: Literal["reconciler/v1"]
    kind: Literal["TunedModel"]
    metadata: Metadata
    spec: Spec

    @model_validator(mode="after")
    def _fits_platform(self) -> TunedModel:
        limit = MAX_NAME_LENGTH[self.spec.platform]
        if len(self.metadata.name) > limit:
            raise invalid(f"name {self.metadata.name!r} is too long for {self.spec.platform} "
                          f"({len(self.metadata.name)} characters; at most {limit})", at="metadata.name")
        if self.spec.platform == "gemini-api" and self.metadata.labels:
            raise invalid("the Gemini API has no labels; remove metadata.labels", at="metadata.labels")
        return self


class ConfigDefaults(_Model):
    project: ProjectId | None = None
    location: Location | None = None
    labels: Labels = Field(default_factory=dict)


class StateConfig(_Model):
    backend: Literal["local"] = "local"


class ConfigFile(_Model):
    """reconciler.yaml at the manifest root."""

    defaults: ConfigDefaults = Field(default_factory=ConfigDefaults)
    lockFile: Annotated[str, Field(min_length=1)] = "reconciler.lock"
    state: StateConfig = Field(default_factory=StateConfig)


MANIFEST_ADAPTER = TypeAdapter(TunedModel)
CONFIG_ADAPTER = TypeAdapter(ConfigFile)


# ---------------------------------------------------------------------------------------------------
# Desired state


@dataclass(frozen=True)
class Defaults:
    project: str | None = None
    location: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    root: Path
    lock_path: Path
    defaults: Defaults = field(default_factory=Defaults)
    state_backend: str = "local"

    @classmethod
    def default(cls, root: Path) -> Config:
        return cls(root=root, lock_path=root / "reconciler.lock")


@dataclass(frozen=True)
class DesiredResource:
    name: str
    platform: Platform
    project: str | None
    location: str | None
    digest: str
    immutable: dict
    mutable: dict
    policy: Policy
    depends_on: str | None
    source: str
    examples: tuple[dict, ...] = ()

    @property
    def short_digest(self) -> str:
        return self.digest[:12]

    @property
    def tuned_model_id(self) -> str:
        return f"{self.name}-{self.digest[:8]}"

    @property
    def scope(self) -> tuple[str, str | None, str | None]:
        return (self.platform, self.project, self.location)

    def to_json(self) -> dict:
        return {"name": self.name, "platform": self.platform, "project": self.project,
                "location": self.location, "digest": self.digest, "digestAlgorithm": DIGEST_ALGORITHM,
                "immutable": self.immutable, "mutable": self.mutable, "policy": self.policy.model_dump(),
                "dependsOn": self.depends_on, "source": self.source, "examples": list(self.examples)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DesiredResource:
        return cls(name=data["name"], platform=data["platform"], project=data["project"],
                   location=data["location"], digest=data["digest"], immutable=data["immutable"],
                   mutable=data["mutable"], policy=Policy(**data["policy"]), depends_on=data["dependsOn"],
                   source=data["source"], examples=tuple(data["examples"]))


@dataclass(frozen=True)
class DesiredState:
    resources: dict[str, DesiredResource]
    config: Config
    warnings: tuple[Diagnostic, ...] = ()


# ---------------------------------------------------------------------------------------------------
# Canonical form and digest


def _without_empty(value: Any) -> Any:
    """`x: null` and `x: {}` mean the same as leaving x out, so they must not change a digest."""
    if isinstance(value, dict):
        cleaned = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v is not None and v != {}}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode()


def examples_sha256(examples: tuple[dict, ...] | list[dict]) -> str:
    rows = [{"output": row["output"], "textInput": row["textInput"]} for row in examples]
    return hashlib.sha256(canonical_json(rows)).hexdigest()


def canonical_immutable(spec: VertexSpec | GeminiSpec, examples: tuple[dict, ...] = ()) -> dict:
    """The user-written immutable fields, normalised: API names and number types, no defaults."""
    written = spec.model_dump(mode="json", exclude_unset=True,
                              include=set(IMMUTABLE_FIELDS[spec.platform]) - {"training"})
    if isinstance(spec, VertexSpec):
        written["training"] = spec.training.model_dump(mode="json", exclude_unset=True)
    else:
        written["training"] = {"exampleCount": len(examples), "examplesSha256": examples_sha256(examples)}
    return _without_empty(written)


def canonical_mutable(spec: VertexSpec | GeminiSpec, labels: Mapping[str, str]) -> dict:
    written = spec.model_dump(mode="json", exclude_unset=True,
                              include=set(MUTABLE_FIELDS[spec.platform]) - {"labels"})
    if spec.platform == "vertex" and labels:
        written["labels"] = dict(sorted(labels.items()))
    return {k: v for k, v in written.items() if v is not None}


def spec_digest(platform: str, project: str | None, location: str | None, immutable: dict,
                upstream_digest: str | None = None) -> str:
    """sha256 over the canonical JSON of the versioned algorithm name, scope, immutable spec and upstream."""
    document = {"algorithm": DIGEST_ALGORITHM, "platform": platform, "immutable": immutable}
    if platform == "vertex":
        document["scope"] = {"project": project, "location": location}
    if upstream_digest:
        document["upstreamDigest"] = upstream_digest
    return hashlib.sha256(canonical_json(document)).hexdigest()


def json_schema() -> dict:
    """The manifest JSON Schema (draft 2020-12), for editors and YAML language servers."""
    schema = MANIFEST_ADAPTER.json_schema(mode="validation")
    return {**schema, "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "reconciler TunedModel manifest (reconciler/v1)"}
