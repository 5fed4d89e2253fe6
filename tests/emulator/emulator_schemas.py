"""Validate emulator response bodies against the reference schemas (the discovery subset for Vertex AI,
converted to JSON Schema with additionalProperties=false; the Gemini $defs made strict the same way).

The schemas live next to this file in schemas/ (see schemas/README.md for where they come from)."""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema

REFERENCE = Path(__file__).resolve().parent / "schemas"
VERTEX_FILE = REFERENCE / "aiplatform.v1.tuning-subset.json"
GEMINI_FILE = REFERENCE / "generativelanguage.v1beta.tuning-schemas.json"
VENDORED = Path(__file__).resolve().parents[2] / "reconciler" / "emulator" / "vertex"
V = "GoogleCloudAiplatformV1"
INT64 = {"type": "string", "pattern": r"^-?\d+$"}
TIMESTAMP = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"}
ANY_MESSAGE = {"type": "object", "required": ["@type"], "properties": {"@type": {"type": "string"}}}


def _convert(node: dict[str, Any]) -> dict[str, Any]:
    """One discovery schema node -> JSON Schema."""
    if "$ref" in node:
        return {"$ref": f"#/$defs/{node['$ref']}"}
    kind = node.get("type")
    if kind == "any":
        return {}
    if kind == "object":
        if "properties" in node:
            return {"type": "object", "additionalProperties": False,
                    "properties": {k: _convert(v) for k, v in node["properties"].items()}}
        extra = node.get("additionalProperties")
        if extra is not None:
            if "@type" in extra.get("description", ""):
                return copy.deepcopy(ANY_MESSAGE)      # a google.protobuf.Any: @type is mandatory
            return {"type": "object", "additionalProperties": _convert(extra)}
        return {"type": "object", "additionalProperties": False}
    if kind == "array":
        return {"type": "array", "items": _convert(node["items"])}
    if kind == "string":
        if node.get("format") in ("int64", "uint64"):
            return dict(INT64)
        if node.get("format") == "google-datetime":
            return dict(TIMESTAMP)
        return {"type": "string", **({"enum": node["enum"]} if "enum" in node else {})}
    if kind in ("integer", "number", "boolean"):
        return {"type": kind}
    raise AssertionError(f"unexpected discovery node {node}")


@lru_cache(maxsize=None)
def vertex_defs(version: str) -> dict[str, Any]:
    schemas = json.loads(VERTEX_FILE.read_text())["schemas"]
    defs = {name: _convert(node) for name, node in schemas.items()}
    if version == "v1beta1":
        # The TuningJob of the v1beta1 discovery document (the subset the emulator vendors), under v1 names.
        beta = json.loads((VENDORED / "aiplatform.v1beta1.tuning-job.json").read_text())["schemas"]
        renamed = json.loads(json.dumps(beta).replace("GoogleCloudAiplatformV1beta1", V))
        defs.update({name: _convert(node) for name, node in renamed.items() if name.startswith(V)})
    return defs


@lru_cache(maxsize=None)
def gemini_defs() -> dict[str, Any]:
    defs = copy.deepcopy(json.loads(GEMINI_FILE.read_text())["$defs"])
    for name, node in defs.items():
        if name != "Any" and "properties" in node:
            node["additionalProperties"] = False
    # trainingData is input only: a response that echoes it is wrong.
    del defs["TuningTask"]["properties"]["trainingData"]
    return defs


def _validator(defs: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": defs})


_ANY_TYPES = {
    "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata": ("vertex", f"{V}DeleteOperationMetadata"),
    "type.googleapis.com/google.cloud.aiplatform.v1.UndeployModelOperationMetadata":
        ("vertex", f"{V}UndeployModelOperationMetadata"),
    "type.googleapis.com/google.cloud.aiplatform.v1.UndeployModelResponse": ("vertex", f"{V}UndeployModelResponse"),
    "type.googleapis.com/google.protobuf.Empty": ("vertex", "GoogleProtobufEmpty"),
    "type.googleapis.com/google.ai.generativelanguage.v1beta.CreateTunedModelMetadata":
        ("gemini", "CreateTunedModelMetadata"),
    "type.googleapis.com/google.ai.generativelanguage.v1beta.TunedModel": ("gemini", "TunedModel"),
    "type.googleapis.com/google.rpc.BadRequest": None, "type.googleapis.com/google.rpc.RetryInfo": None,
    "type.googleapis.com/google.rpc.ErrorInfo": None,
}


def schema_name(method: str, path: str, status: int) -> tuple[str, str] | None:
    """(family, definition) for one logged response; None when the reference has no schema for it."""
    if status != 200:
        return "gemini", "ErrorResponse"     # the generic Google error envelope
    segments = [s for s in path.split("/") if s]
    version, rest = segments[0], segments[1:]
    verb = rest[-1].partition(":")[2] if rest and ":" in rest[-1] else None
    if verb:
        rest = rest[:-1] + [rest[-1].partition(":")[0]]
    if rest[:1] == ["tunedModels"]:
        return _gemini_schema(method, rest, verb)
    if rest[:1] == ["models"]:
        return None                      # base models (models.get / list): not in the reference's schemas
    family = "vertex-v1beta1" if version == "v1beta1" else "vertex"
    tail = rest[4:]
    if "operations" in tail:
        after = tail[tail.index("operations") + 1:]
        if not after:
            return family, "GoogleLongrunningListOperationsResponse"
        if method == "DELETE" or verb == "cancel":
            return family, "GoogleProtobufEmpty"
        return family, "GoogleLongrunningOperation"
    collection = tail[0]
    if collection == "metadataStores":
        return None                          # a job's experiment (an ML Metadata Context): not in the reference
    single = {"tuningJobs": f"{V}TuningJob", "models": f"{V}Model", "endpoints": f"{V}Endpoint"}[collection]
    many = {"tuningJobs": f"{V}ListTuningJobsResponse", "models": f"{V}ListModelsResponse",
            "endpoints": f"{V}ListEndpointsResponse"}[collection]
    if len(tail) == 1:
        return family, (single if method == "POST" else many)
    if verb == "cancel":
        return family, "GoogleProtobufEmpty"
    if verb == "listVersions":
        return family, f"{V}ListModelVersionsResponse"
    if verb == "listCheckpoints":
        return family, f"{V}ListModelVersionCheckpointsResponse"
    if method == "DELETE" or verb in ("deleteVersion", "undeployModel"):
        return family, "GoogleLongrunningOperation"
    return family, single


def _gemini_schema(method: str, rest: list[str], verb: str | None) -> tuple[str, str] | None:
    if len(rest) == 1:
        return "gemini", "Operation" if method == "POST" else "ListTunedModelsResponse"
    if len(rest) == 2:
        if verb == "transferOwnership":
            return "gemini", "TransferOwnershipResponse"
        if verb in ("generateContent", "streamGenerateContent"):
            return None                      # GenerateContentResponse is not in the reference schemas
        return "gemini", "TransferOwnershipResponse" if method == "DELETE" else "TunedModel"
    if rest[2] == "operations":
        if verb == "cancel":
            return "gemini", "TransferOwnershipResponse"   # an Empty
        return "gemini", "Operation" if len(rest) == 4 else "ListOperationsResponse"
    if len(rest) == 3:
        return "gemini", "Permission" if method == "POST" else "ListPermissionsResponse"
    return "gemini", "TransferOwnershipResponse" if method == "DELETE" else "Permission"


def _defs(family: str) -> dict[str, Any]:
    return gemini_defs() if family == "gemini" else vertex_defs("v1beta1" if family == "vertex-v1beta1" else "v1")


def problems(entry: dict[str, Any]) -> list[str]:
    """Schema violations of one logged response (method, path, status, response)."""
    if entry["path"].startswith(STORAGE_PREFIXES):
        return storage_problems(entry)
    found = schema_name(entry["method"], entry["path"], entry["status"])
    if found is None or entry.get("dropped"):
        return []
    family, name = found
    body = entry["response"]
    where = f"{entry['method']} {entry['path']} -> {entry['status']} ({name})"
    errors = [f"{where}: {e.json_path}: {e.message}" for e in _validator(_defs(family), name).iter_errors(body)]
    for any_value in _anys(body):
        target = _ANY_TYPES.get(any_value.get("@type"), "missing")
        if target == "missing":
            errors.append(f"{where}: unexpected Any @type {any_value.get('@type')!r}")
        elif target is not None:
            payload = {k: v for k, v in any_value.items() if k != "@type"}
            sub_family = target[0] if target[0] == "gemini" else family
            errors += [f"{where}: Any {target[1]}: {e.json_path}: {e.message}"
                       for e in _validator(_defs(sub_family), target[1]).iter_errors(payload)]
    if entry["status"] != 200:
        status = body["error"]["status"]
        if _HTTP.get(status) != entry["status"]:
            errors.append(f"{where}: status {status} does not map to HTTP {entry['status']}")
    return errors


_HTTP = {name: spec["http"] for name, spec in
         json.loads(GEMINI_FILE.read_text())["$defs"]["ErrorResponse"]["x-codeTable"].items()}


def _anys(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if "@type" in value:
            found.append(value)
        for item in value.values():
            found += _anys(item)
    elif isinstance(value, list):
        for item in value:
            found += _anys(item)
    return found



# ---------------------------------------------------------------------------------------------- Cloud Storage
# The subset of the storage v1 discovery document's Object, Objects and Bucket schemas the emulator may send
# (made strict: a field outside it is a problem), and the JSON API v1 error envelope.
STORAGE_PREFIXES = ("/storage/", "/upload/", "/download/")
_TEXT = {"type": "string"}
_BASE64 = {"type": "string", "pattern": r"^[A-Za-z0-9+/]+={0,2}$"}
_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
STORAGE_DEFS: dict[str, Any] = {
    "Object": {"type": "object", "additionalProperties": False,
               "required": ["kind", "id", "name", "bucket", "generation", "metageneration", "size", "md5Hash",
                            "crc32c", "etag", "timeCreated", "updated", "storageClass", "contentType",
                            "selfLink", "mediaLink"],
               "properties": {"kind": {"const": "storage#object"}, "id": _TEXT, "selfLink": _TEXT,
                              "mediaLink": _TEXT, "name": _TEXT, "bucket": _TEXT, "generation": INT64,
                              "metageneration": INT64, "contentType": _TEXT, "storageClass": _TEXT,
                              "size": INT64, "md5Hash": _BASE64, "crc32c": _BASE64, "etag": _TEXT,
                              "timeCreated": TIMESTAMP, "updated": TIMESTAMP, "timeStorageClassUpdated": TIMESTAMP,
                              "metadata": _MAP, "cacheControl": _TEXT, "contentDisposition": _TEXT,
                              "contentEncoding": _TEXT, "contentLanguage": _TEXT}},
    "Objects": {"type": "object", "additionalProperties": False, "required": ["kind"],
                "properties": {"kind": {"const": "storage#objects"}, "nextPageToken": _TEXT,
                               "items": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/Object"}},
                               "prefixes": {"type": "array", "minItems": 1, "items": _TEXT}}},
    "Bucket": {"type": "object", "additionalProperties": False,
               "required": ["kind", "id", "name", "projectNumber", "metageneration", "location", "storageClass",
                            "etag", "timeCreated", "updated"],
               "properties": {"kind": {"const": "storage#bucket"}, "id": _TEXT, "selfLink": _TEXT, "name": _TEXT,
                              "projectNumber": {"type": "string", "pattern": r"^\d+$"}, "metageneration": INT64,
                              "location": _TEXT, "locationType": _TEXT, "storageClass": _TEXT, "etag": _TEXT,
                              "timeCreated": TIMESTAMP, "updated": TIMESTAMP, "labels": _MAP}},
    "Error": {"type": "object", "additionalProperties": False, "required": ["error"], "properties": {"error": {
        "type": "object", "additionalProperties": False, "required": ["code", "message", "errors"],
        "properties": {"code": {"type": "integer"}, "message": _TEXT, "errors": {
            "type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": ["domain", "reason", "message"],
                "properties": {"domain": _TEXT, "reason": _TEXT, "message": _TEXT, "locationType": _TEXT,
                               "location": _TEXT}}}}}}},
}


def storage_schema_name(method: str, path: str, status: int) -> str:
    if status != 200:
        return "Error"
    segments = [s for s in path.split("/") if s]
    if segments[:1] != ["storage"]:
        return "Object"                                       # an upload (downloads record no body)
    rest = segments[2:]
    if len(rest) <= 2:
        return "Bucket"
    return "Objects" if len(rest) == 3 else "Object"          # the decoded object name may hold "/"


def storage_problems(entry: dict[str, Any]) -> list[str]:
    if entry.get("dropped") or "response" not in entry:
        return []
    name = storage_schema_name(entry["method"], entry["path"], entry["status"])
    where = f"{entry['method']} {entry['path']} -> {entry['status']} ({name})"
    validator = jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": STORAGE_DEFS})
    errors = [f"{where}: {e.json_path}: {e.message}" for e in validator.iter_errors(entry["response"])]
    if name == "Error" and not errors and entry["response"]["error"]["code"] != entry["status"]:
        errors.append(f"{where}: error.code is not the HTTP status")
    return errors
