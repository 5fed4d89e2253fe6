"""Gemini API tunedModels: create (validated; starts tuning), get, list, patch, delete."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from ..clock import rfc3339
from ..listing import fingerprint, paginate, with_token
from ..names import slug_id
from ..routing import NO_QUERY, ApiRequest, check_query
from ..rpc import RpcError, bad_request, invalid, precondition
from ..schema import LIST, OUT, Violations, coerce, snake
from ..store import Store
from .common import LIST_DEFAULT, LIST_MAX, model_name
from .lifecycle import find, settle, state, view
from .operations import Operations
from .permissions import Permissions

MAX_REMEMBERED_EXAMPLES = 1000                    # kept (never echoed) to answer generateContent
# The base model's sampling defaults are copied on create (reference); the emulator uses these.
BASE_SAMPLING = {"temperature": 1.0, "topP": 0.95, "topK": 64}
MUTABLE = ("displayName", "description", "temperature", "topP", "topK", "readerProjectNumbers")
IMMUTABLE = ("baseModel", "tunedModelSource", "tuningTask", "name", "state", "createTime", "updateTime")
_HYPER = {"learningRate": "float", "learningRateMultiplier": "float", "epochCount": "int32", "batchSize": "int32"}
TUNED_MODEL_SPEC: dict[str, Any] = {
    "name": OUT, "baseModel": "string", "tunedModelSource": {"tunedModel": "string", "baseModel": OUT},
    "displayName": "string", "description": "string", "temperature": "float", "topP": "float", "topK": "int32",
    "state": OUT, "createTime": OUT, "updateTime": OUT, "readerProjectNumbers": LIST("int64"),
    "tuningTask": {"startTime": OUT, "completeTime": OUT, "snapshots": OUT, "hyperparameters": _HYPER,
                   "trainingData": {"examples": {"examples": LIST({"textInput": "string", "output": "string"})}}},
}
_ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")


class TunedModels:
    def __init__(self, store: Store, job_duration: float, operations: Operations, permissions: Permissions,
                 catalogue: Any = None) -> None:
        self.store = store
        self.job_duration = float(job_duration)
        self.operations = operations
        self.permissions = permissions
        self.catalogue = catalogue        # the base models (`catalogue.py`); None: any models/... is tunable

    # ------------------------------------------------------------------ routes
    def create(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, frozenset({"tunedModelId"}))
        wanted = request.query.get("tunedModelId")
        if wanted is not None and not _ID_RE.match(wanted):
            raise invalid("tuned_model_id", "tuned_model_id must be at most 40 characters, start with a letter, "
                                            "end with a letter or digit, and contain only [a-z0-9-].")
        body = _coerced(request)
        examples = _validate(body)
        if wanted and f"tunedModels/{wanted}" in self.store["tunedModels"]:
            raise RpcError("ALREADY_EXISTS", f"Tuned model tunedModels/{wanted} already exists.")
        if "baseModel" in body and self.catalogue is not None:   # after the id: a repeated create is a 409
            self.catalogue.require_tunable(body["baseModel"], request.version)
        name = f"tunedModels/{wanted or _generated_id(body.get('displayName', ''), self.store['tunedModels'])}"
        if "tunedModelSource" in body:
            source = find(self.store, body["tunedModelSource"]["tunedModel"])["model"]
            body["tunedModelSource"]["baseModel"] = source.get("baseModel") or \
                source.get("tunedModelSource", {}).get("baseModel", "")
        task = body["tuningTask"]
        task.pop("trainingData")                          # input only: never stored in the resource or echoed
        hyper = task.setdefault("hyperparameters", {})
        # Defaults when unset (reference: Hyperparameters); the thresholds are the emulator's choice.
        hyper.setdefault("epochCount", 5)
        hyper.setdefault("batchSize", 4 if len(examples) < 500 else 16)
        if "learningRateMultiplier" not in hyper:
            hyper.setdefault("learningRate", 0.001 if len(examples) < 500 else 0.0002)
        stamp = rfc3339(now)
        model = {"name": name, **{k: v for k, v in body.items() if k != "tuningTask"},
                 **{k: v for k, v in BASE_SAMPLING.items() if k not in body},
                 "createTime": stamp, "updateTime": stamp, "tuningTask": task}
        operation_name = f"{name}/operations/{slug_id(12)}"
        record = {"seq": self.store.next_seq(), "model": model, "created": now, "duration": self.job_duration,
                  "failAt": None, "failError": None, "final": None, "operation": operation_name,
                  "examples": len(examples),
                  "totalSteps": max(1, math.ceil(len(examples) * hyper["epochCount"] / hyper["batchSize"])),
                  "answers": [[e.get("textInput", ""), e["output"]] for e in examples[:MAX_REMEMBERED_EXAMPLES]]}
        self.store["tunedModels"][name] = record
        operation = self.operations.register(operation_name, name)
        self.permissions.grant_owner(name)
        self.store.changed()
        settle(self.store, now)
        return self.operations.view(operation, now)

    def get(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        return view(find(self.store, model_name(request)), now)

    def list(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, frozenset({"pageSize", "pageToken", "filter"}))
        text = request.query.get("filter", "")
        shared = self.permissions.shared_with_everyone
        items = [r for r in self.store["tunedModels"].values() if _matches(r, text, shared)]
        page, token = paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                               request_key=fingerprint("tunedModels", text))
        return with_token({"tunedModels": [view(r, now) for r in page]} if page else {}, token)

    def patch(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, frozenset({"updateMask"}))
        body = _coerced(request)
        record = find(self.store, model_name(request))
        if request.query.get("updateMask"):
            paths = request.update_mask()
            for path in paths:
                if path.split(".")[0] in IMMUTABLE:
                    raise invalid("update_mask", f"Field {path!r} cannot be updated (immutable or output only).")
                if path not in MUTABLE:
                    raise invalid("update_mask", f"Unknown update_mask path {path!r}; updatable: "
                                                 + ", ".join(MUTABLE) + ".")
        else:
            paths = list(MUTABLE)   # no mask: replace every mutable field (AIP-134)
        problems = _mutable_problems({k: body[k] for k in paths if k in body})
        if problems:
            raise bad_request(problems)
        model = record["model"]
        for path in paths:
            if path in body:
                model[path] = body[path]
            else:
                model.pop(path, None)
        model["updateTime"] = rfc3339(now)
        self.store.changed()
        return view(record, now)

    def delete(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        self._delete(model_name(request), now)
        return {}

    # ------------------------------------------------------------------ out-of-band (admin) mutations
    def admin_fail(self, name: str, error: dict[str, Any], now: float) -> None:
        record = find(self.store, name)
        current, _ = state(record, now)
        if current != "CREATING":
            raise precondition(f"Tuned model {name} is not CREATING (state {current}).")
        record["failAt"], record["failError"] = now, error
        settle(self.store, now)
        self.store.changed()

    def admin_delete(self, name: str, now: float) -> None:
        self._delete(name, now)

    def admin_patch(self, name: str, fields: dict[str, Any], now: float) -> None:
        model = find(self.store, name)["model"]
        for key, value in fields.items():
            if key == "labels":
                raise invalid("labels", "Gemini API tuned models have no labels.")
            model[key] = value
        model["updateTime"] = rfc3339(now)
        self.store.changed()

    # ------------------------------------------------------------------ helpers
    def _delete(self, name: str, now: float) -> None:
        record = find(self.store, name)
        self.operations.freeze(record, now)
        del self.store["tunedModels"][name]
        self.permissions.remove_all(name)
        self.store.changed()


def _generated_id(display_name: str, taken: dict[str, Any]) -> str:
    """`Sentence Translator` -> `sentence-translator-u3b7m`; fully random without a display name."""
    words = "-".join(re.findall(r"[a-z0-9]+", display_name.lower()))[:34].strip("-")
    while True:
        if words and words[0].isalpha():
            candidate = f"{words}-{slug_id(5)}"
        else:
            candidate = slug_id(11)
        if f"tunedModels/{candidate}" not in taken:
            return candidate


def _matches(record: dict[str, Any], text: str, shared_with_everyone: Callable[[str], bool]) -> bool:
    """Full-text search over displayName and description; owner:me / writers:me / readers:me match every
    model (the caller owns them all); readers:everyone matches models shared with EVERYONE."""
    model = record["model"]
    haystack = f"{model.get('displayName', '')} {model.get('description', '')}".lower()
    for word in text.split():
        lowered = word.lower()
        if lowered in ("owner:me", "writers:me", "readers:me"):
            continue
        if lowered == "readers:everyone":
            if not shared_with_everyone(model["name"]):
                return False
            continue
        if lowered.strip('"') not in haystack:
            return False
    return True


def _coerced(request: ApiRequest) -> dict[str, Any]:
    errors = Violations()
    body = coerce(TUNED_MODEL_SPEC, request.object_body(), "tuned_model", errors)
    if errors:
        raise bad_request(errors)
    return body


def _validate(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The training examples of a valid create body, or its 400."""
    problems: list[tuple[str, str]] = []
    if ("baseModel" in body) == ("tunedModelSource" in body):
        problems.append(("tuned_model.base_model", "Exactly one of base_model or tuned_model_source is required."))
    elif "baseModel" in body and not body["baseModel"].startswith("models/"):
        problems.append(("tuned_model.base_model", "base_model must look like models/{model}."))
    elif "tunedModelSource" in body and not body["tunedModelSource"].get("tunedModel"):
        problems.append(("tuned_model.tuned_model_source.tuned_model", "tuned_model is required."))
    problems += _mutable_problems(body)
    task = body.get("tuningTask")
    examples: list[dict[str, Any]] = []
    if task is None:
        problems.append(("tuned_model.tuning_task", "tuning_task is required."))
    else:
        examples = task.get("trainingData", {}).get("examples", {}).get("examples") or []
        if not examples:
            problems.append(("tuned_model.tuning_task.training_data", "training_data with at least one "
                             "example is required."))
        for index, example in enumerate(examples):
            if not example.get("output"):
                problems.append((f"tuned_model.tuning_task.training_data.examples.examples[{index}].output",
                                 "output is required."))
            if "textInput" not in example:
                problems.append((f"tuned_model.tuning_task.training_data.examples.examples[{index}]"
                                 ".text_input", "text_input is required."))
        hyper = task.get("hyperparameters", {})
        if "learningRate" in hyper and "learningRateMultiplier" in hyper:
            problems.append(("tuned_model.tuning_task.hyperparameters",
                             "Only one of learning_rate and learning_rate_multiplier may be set."))
        for key in ("epochCount", "batchSize", "learningRate", "learningRateMultiplier"):
            if key in hyper and hyper[key] <= 0:
                problems.append((f"tuned_model.tuning_task.hyperparameters.{snake(key)}",
                                 f"{snake(key)} must be positive."))
    if problems:
        raise bad_request(problems)
    return examples


def _mutable_problems(body: dict[str, Any]) -> list[tuple[str, str]]:
    problems = []
    if len(body.get("displayName", "")) > 40:
        problems.append(("tuned_model.display_name", "display_name must be at most 40 characters."))
    if not 0.0 <= body.get("temperature", 0.0) <= 1.0:
        problems.append(("tuned_model.temperature", "temperature must be in [0.0, 1.0]."))
    if not 0.0 <= body.get("topP", 0.0) <= 1.0:
        problems.append(("tuned_model.top_p", "top_p must be in [0.0, 1.0]."))
    if body.get("topK", 0) < 0:
        problems.append(("tuned_model.top_k", "top_k must not be negative."))
    return problems
