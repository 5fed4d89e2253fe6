"""The manifest models: structure, types, per-field rules and the rules that tie fields of one document
together, validated by frozen pydantic models; and the JSON Schema generated from them.

Field names are the APIs' own camelCase names, so the model attributes are camelCase too: a pydantic
error `loc` is then exactly the path of keys in the YAML document.

What differs between platforms is declared here, once, as class-level facts of each spec model
(`mutable_fields`, `scoped`, `has_labels`, ...); the rest of the package reads those facts and never
compares platform names. The `platform:` discriminators below are the only place the names are written.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, model_validator

from reconciler.cost import DEFAULT_CHARS_PER_TOKEN
from reconciler import policy as policies
from reconciler.manifest.fields import (KMS_KEY_PATTERN, AdapterSize, BucketName, CheckpointId, DatasetUri, GcsPrefix,
                                        GeminiBaseModel, GeminiTunedModel, KmsKeyName, Labels, Location, Name,
                                        ObjectPrefix, PositiveFloat, PositiveInt, ProjectId, ServiceAccount,
                                        StackName, UnitFloat,
                                        VertexBaseModel, VertexTunedModelName, invalid)

API_VERSION = "reconciler/v1"

AGGREGATION_METRICS = ("AVERAGE", "MODE", "STANDARD_DEVIATION", "VARIANCE", "MINIMUM", "MAXIMUM",
                       "MEDIAN", "PERCENTILE_P90", "PERCENTILE_P95", "PERCENTILE_P99")
METRIC_SPECS = ("pointwiseMetricSpec", "pairwiseMetricSpec", "exactMatchSpec", "bleuSpec", "rougeSpec",
                "llmBasedMetricSpec", "predefinedMetricSpec", "computationBasedMetricSpec",
                "customCodeExecutionSpec")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", field_title_generator=lambda name, _: name)


class Policy(BaseModel):
    """What the reconciler may do to the live resource; never part of the digest."""

    model_config = ConfigDict(frozen=True, extra="forbid", field_title_generator=lambda name, _: name)

    protect: bool = Field(False, description="true: never cancel, retire or delete this resource")
    onDelete: Literal["delete", "orphan"] = Field(
        "delete", description="what removing the manifest does: delete the live resource, or forget it")
    whileRunning: Literal["restart", "wait"] = Field(
        "restart", description="what a spec edit does to a running job: cancel and restart, or wait")
    previousVersion: Literal["retire", "keep"] = Field(
        "retire", description="the old model after a successful retrain: retire (delete) it, or keep it")
    onDataChange: Literal["report", "retrain"] = Field(
        "report", description="training data rewritten at the same gs:// URI: report it (a fact the plan shows), "
                              "or retrain on it")
    maxCost: float | None = Field(None, ge=0, description="refuse an apply whose estimated cost for this model "
                                                          "exceeds this many US dollars")

    def value(self) -> policies.Policy:
        """The policy as the planner and the lock read it (reconciler.policy: no pydantic)."""
        return policies.intern(*(getattr(self, name) for name in Policy.model_fields))


def _written(model: BaseModel, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if getattr(model, name) is not None]


def _require_one_of(model: BaseModel, names: tuple[str, ...], *, optional: bool = False) -> None:
    written = _written(model, names)
    if len(written) > 1:
        raise invalid(f"set only one of {' or '.join(written)}", at=written[1])
    if not written and not optional:
        raise invalid(f"set one of {' or '.join(names)}")


# ---------------------------------------------------------------------------------------------------
# Shared parts


class Metadata(_Model):
    name: Name
    labels: Labels = Field(default_factory=dict, description="copied onto live Vertex resources")


# ---------------------------------------------------------------------------------------------------
# platform: vertex


class PreTunedModel(_Model):
    """Continuous tuning: start from a tuned model, named directly or by the manifest that owns it."""

    tunedModelName: VertexTunedModelName | None = None
    checkpointId: CheckpointId | None = None
    fromManifest: Name | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PreTunedModel:
        _require_one_of(self, ("tunedModelName", "fromManifest"))
        return self


DataFile = Annotated[str, Field(min_length=1, description="a JSONL file in the repository, relative to this "
                                                            "manifest; uploaded to reconciler.yaml `staging`")]


class VertexTraining(_Model):
    dataset: DatasetUri | None = None
    validationDataset: DatasetUri | None = None
    file: DataFile | None = None
    validationFile: DataFile | None = None

    @model_validator(mode="after")
    def _one_source(self) -> VertexTraining:
        if self.dataset is None and self.file is None:
            raise invalid("missing required field 'dataset' (gs://BUCKET/OBJECT.jsonl) or 'file' (a JSONL file in "
                          "the repository)", missing=("dataset",))
        _require_one_of(self, ("dataset", "file"))
        _require_one_of(self, ("validationDataset", "validationFile"), optional=True)
        return self

    @property
    def local_files(self) -> dict[str, str]:
        """The manifest fields naming files in the repository, and the paths written."""
        return {name: getattr(self, name) for name in ("file", "validationFile") if getattr(self, name)}


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


class _Spec(_Model):
    """What every platform's spec declares about itself (class-level facts, not fields)."""

    mutable_fields: ClassVar[tuple[str, ...]]  # patched in place; any other change retrains
    immutable_fields: ClassVar[tuple[str, ...]]  # the fields of the canonical immutable spec and the digest
    max_name_length: ClassVar[int]  # of metadata.name
    scoped: ClassVar[bool]  # has project and location (filled from reconciler.yaml defaults), part of the digest
    has_labels: ClassVar[bool]  # live resources carry labels (metadata.labels, defaults.labels)
    service: ClassVar[str]  # how messages name the service
    upstream_field: ClassVar[str]  # the field whose `fromManifest` names the manifest this one continues
    continuation_shares_model: ClassVar[bool]  # a continuation without its own displayName joins the upstream's model
    trains_on_examples: ClassVar[bool]  # training.examples: rows (inline or a JSONL file) enter the digest by hash


class VertexSpec(_Spec):
    mutable_fields = ("displayName", "description", "labels")
    immutable_fields = ("baseModel", "preTunedModel", "training", "hyperParameters", "exportLastCheckpointOnly",
                        "evaluationConfig", "serviceAccount", "encryption")
    max_name_length = 63
    scoped = True
    has_labels = True
    service = "Vertex AI"
    upstream_field = "preTunedModel"
    continuation_shares_model = True  # reference: continuous tuning (the upstream's Model gets version N+1)
    trains_on_examples = False

    platform: Literal["vertex"]
    project: ProjectId | None = Field(None, description="defaults to reconciler.yaml defaults.project")
    location: Location | None = Field(None, description="defaults to reconciler.yaml defaults.location")
    baseModel: VertexBaseModel | None = Field(None, description="e.g. gemini-2.5-flash; or use preTunedModel")
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
                          "or under defaults in reconciler.yaml", missing=tuple(missing))
        if self.encryption:
            key_region = KMS_KEY_PATTERN.fullmatch(self.encryption.kmsKeyName).group(2)
            if key_region != self.location:
                raise invalid(f"the KMS key is in {key_region!r} but the job runs in {self.location!r}; "
                              "the key must be in the job's region", at="encryption.kmsKeyName")
        return self


# ---------------------------------------------------------------------------------------------------
# platform: gemini-api


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
    tunedModel: GeminiTunedModel | None = None

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


class GeminiSpec(_Spec):
    mutable_fields = ("displayName", "description", "temperature", "topP", "topK")
    immutable_fields = ("baseModel", "tunedModelSource", "hyperParameters", "training")
    max_name_length = 31  # tunedModelId = name-<8 hex> ≤ 40
    scoped = False
    has_labels = False
    service = "the Gemini API"
    upstream_field = "tunedModelSource"
    continuation_shares_model = False
    trains_on_examples = True

    platform: Literal["gemini-api"]
    baseModel: GeminiBaseModel | None = None
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


# ---------------------------------------------------------------------------------------------------
# The document, reconciler.yaml, and the platforms derived from the discriminator


Spec = Annotated[Union[VertexSpec, GeminiSpec], Field(discriminator="platform")]
AnySpec = Union[VertexSpec, GeminiSpec]

# platform name (from each model's `platform: Literal[...]`) -> spec model, in the order of `Spec`
SPEC_TYPES: dict[str, type[_Spec]] = {name: spec for spec in get_args(get_args(Spec)[0])
                                      for name in get_args(spec.model_fields["platform"].annotation)}
PLATFORMS = tuple(SPEC_TYPES)
MUTABLE_FIELDS = {name: spec.mutable_fields for name, spec in SPEC_TYPES.items()}


def spec_type(platform: Any) -> type[_Spec] | None:
    """The spec model of a platform name; None for anything else (any value, as written in a document)."""
    return SPEC_TYPES.get(platform) if isinstance(platform, str) else None


class TunedModel(_Model):
    """One manifest document."""

    apiVersion: Literal["reconciler/v1"]
    kind: Literal["TunedModel"]
    metadata: Metadata
    spec: Spec

    @model_validator(mode="after")
    def _fits_platform(self) -> TunedModel:
        limit = self.spec.max_name_length
        if len(self.metadata.name) > limit:
            raise invalid(f"name {self.metadata.name!r} is too long for {self.spec.platform} "
                          f"({len(self.metadata.name)} characters; at most {limit})", at="metadata.name")
        if not self.spec.has_labels and self.metadata.labels:
            raise invalid(f"{self.spec.service} has no labels; remove metadata.labels", at="metadata.labels")
        return self


class ConfigDefaults(_Model):
    project: ProjectId | None = None
    location: Location | None = None
    labels: Labels = Field(default_factory=dict)


class StateConfig(_Model):
    backend: Literal["local", "gcs"] = Field("local", description="local: the lockFile beside reconciler.yaml; "
                                                                  "gcs: an object in a Cloud Storage bucket")
    bucket: BucketName | None = Field(None, description="gcs: the bucket holding the state (versioning on)")
    prefix: ObjectPrefix = Field("", description="gcs: the folder of this root's state objects in the bucket")

    @model_validator(mode="after")
    def _complete(self) -> StateConfig:
        if self.backend == "gcs" and self.bucket is None:
            raise invalid("backend gcs needs a bucket: add `bucket: NAME` (an existing bucket, versioning on)",
                          at="bucket")
        if self.backend == "local" and (self.bucket is not None or self.prefix):
            raise invalid("bucket and prefix are for `backend: gcs`; the local backend keeps state in lockFile",
                          at="bucket" if self.bucket is not None else "prefix")
        return self


class CostConfig(_Model):
    charsPerToken: PositiveFloat = Field(DEFAULT_CHARS_PER_TOKEN, description="characters per token when estimating training tokens "
                                                          "offline (an estimate: the API counts the real tokens)")
    prices: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, description="base model -> USD per 1M training tokens; overrides the shipped table")


class ConfigFile(_Model):
    """reconciler.yaml at the manifest root."""

    stack: StackName | None = Field(None, description="this repository's identity: resources carry it, so two "
                                                      "repositories sharing a project never adopt each other's")
    defaults: ConfigDefaults = Field(default_factory=ConfigDefaults)
    lockFile: Annotated[str, Field(min_length=1)] = "reconciler.lock"
    state: StateConfig = Field(default_factory=StateConfig)
    quotaProject: ProjectId | None = Field(None, description="the project billed for OAuth calls (sent as "
                                                             "x-goog-user-project); GOOGLE_CLOUD_QUOTA_PROJECT wins")
    staging: GcsPrefix | None = Field(None, description="gs://BUCKET/PREFIX: where training files kept in the "
                                                        "repository are uploaded (named by content digest)")
    cost: CostConfig = Field(default_factory=CostConfig)


MANIFEST_ADAPTER = TypeAdapter(TunedModel)
CONFIG_ADAPTER = TypeAdapter(ConfigFile)


def json_schema() -> dict:
    """The manifest JSON Schema (draft 2020-12), for editors and YAML language servers."""
    schema = MANIFEST_ADAPTER.json_schema(mode="validation")
    return {**schema, "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "reconciler TunedModel manifest (reconciler/v1)"}
