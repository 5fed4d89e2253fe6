"""Constrained strings of a manifest and their validators: names, labels, Cloud Storage URIs, KMS keys,
service accounts, projects, locations and adapter sizes.

Every validator fails with `invalid()`, whose message is shown to the user as written.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from reconciler.ownership import OWNERSHIP_LABELS

# Labels the executor puts on every Vertex resource it creates; a user label must not shadow them.
RESERVED_LABEL_PREFIX = "aiplatform.googleapis.com/"
MAX_LABEL_LENGTH = 63  # the reference says 64 code points; GCP's usual limit of 63 is safe everywhere

MAX_NAME_LENGTH = 63  # any platform's longest name: it becomes a label value; a platform may allow fewer
NAME_PATTERN = re.compile(r"[a-z]([a-z0-9-]*[a-z0-9])?")
TUNED_MODEL_ID_PATTERN = re.compile(r"[a-z]([a-z0-9-]{0,38}[a-z0-9])?")

# Rank written by people -> the API's enum name. The enum *numbers* are not in rank order
# (ADAPTER_SIZE_TWO is 6, ADAPTER_SIZE_FOUR is 2), so numbers in a manifest always mean the rank.
ADAPTER_SIZES = {1: "ADAPTER_SIZE_ONE", 2: "ADAPTER_SIZE_TWO", 4: "ADAPTER_SIZE_FOUR",
                 8: "ADAPTER_SIZE_EIGHT", 16: "ADAPTER_SIZE_SIXTEEN", 32: "ADAPTER_SIZE_THIRTY_TWO"}


def invalid(message: str, at: str = "", missing: tuple[str, ...] = ()) -> PydanticCustomError:
    """A validation failure with our own message; `at` (dotted) locates it below the failing model; `missing`:
    the fields it is about when they are missing (a broken reconciler.yaml default may be why)."""
    return PydanticCustomError("reconciler", "{message}", {"message": message, "at": at, "missing": missing})


def _check_name(value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise invalid(f"invalid name {value!r}: use lowercase letters, digits and '-', starting with a "
                      "letter and not ending with '-'")
    if len(value) > MAX_NAME_LENGTH:
        raise invalid(f"name {value!r} is too long ({len(value)} characters; at most {MAX_NAME_LENGTH})")
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


STACK_PATTERN = re.compile(r"[a-z]([a-z0-9-]{0,28}[a-z0-9])?")  # a label value, with room for a workspace


def _check_stack(value: str) -> str:
    if not STACK_PATTERN.fullmatch(value):
        raise invalid(f"invalid stack {value!r}: use 1 to 30 lowercase letters, digits and '-', starting with a "
                      "letter and not ending with '-' (it becomes a label value)")
    return value


def _check_bucket(value: str) -> str:
    problem = _bucket_problem(value)
    if problem:
        raise invalid(problem)
    return value


def _check_object_prefix(value: str) -> str:
    if value.startswith("/") or value.endswith("/") or "//" in value or any(p in (".", "..") for p in value.split("/")):
        raise invalid(f"invalid prefix {value!r}: a folder inside the bucket such as 'tuning/prod', with no "
                      "leading or trailing '/' and no '.' or '..' segments")
    if any(ord(c) < 32 or c in "#[]*?" for c in value) or len(value.encode()) > 512:
        raise invalid(f"invalid prefix {value!r}: no control characters or '#[]*?', at most 512 bytes")
    return value


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
                       json_schema_extra={"pattern": "^[a-z]([a-z0-9-]*[a-z0-9])?$", "maxLength": MAX_NAME_LENGTH})]
LabelKey = Annotated[str, AfterValidator(_check_label_key)]
LabelValue = Annotated[str, AfterValidator(_check_label_value)]
Labels = dict[LabelKey, LabelValue]
DatasetUri = Annotated[str, AfterValidator(_check_dataset),
                       Field(description="gs://BUCKET/OBJECT.jsonl or projects/P/locations/L/datasets/D")]
GcsPrefix = Annotated[str, AfterValidator(_check_gcs_prefix)]
StackName = Annotated[str, AfterValidator(_check_stack)]
BucketName = Annotated[str, AfterValidator(_check_bucket)]
ObjectPrefix = Annotated[str, AfterValidator(_check_object_prefix)]
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
VertexTunedModelName = Annotated[str, AfterValidator(_check_vertex_tuned_model)]
VertexBaseModel = Annotated[str, AfterValidator(_check_vertex_base_model)]
CheckpointId = Annotated[str, BeforeValidator(_int_as_string), Field(pattern=r"^[0-9]+$")]
GeminiBaseModel = Annotated[str, AfterValidator(_check_prefixed("models/", "models/gemini-1.5-flash-001-tuning"))]
GeminiTunedModel = Annotated[str, AfterValidator(_check_prefixed("tunedModels/", "tunedModels/ID"))]
