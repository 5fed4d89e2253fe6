"""Gemini API (generativelanguage v1beta): tunedModels, their operations and permissions.

A tuned model is CREATING from create until create + job duration (virtual seconds), then ACTIVE; the
create operation's CreateTunedModelMetadata reports steps, percent and snapshots as virtual time passes.
"""

from __future__ import annotations

import math
import re
from typing import Any

from . import listing
from .clock import Clock, rfc3339
from .names import slug_id, stable_int
from .routing import ApiRequest, check_query, no_route
from .rpc import RpcError, bad_request, invalid, not_found, precondition, status
from .schema import LIST, OUT, Enum, Violations, camel, coerce
from .store import Store

TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta."
LIST_DEFAULT, LIST_MAX = 10, 1000                 # reference: tunedModels.list and permissions.list
MAX_SNAPSHOTS = 200                               # longer runs report evenly spaced steps (emulator choice)
MAX_REMEMBERED_EXAMPLES = 1000                    # kept (never echoed) to answer generateContent
# The base model's sampling defaults are copied on create (reference); the emulator uses these.
BASE_SAMPLING = {"temperature": 1.0, "topP": 0.95, "topK": 64}
MUTABLE = ("displayName", "description", "temperature", "topP", "topK", "readerProjectNumbers")
IMMUTABLE = ("baseModel", "tunedModelSource", "tuningTask", "name", "state", "createTime", "updateTime")

GRANTEE = Enum("google.ai.generativelanguage.v1beta.Permission.GranteeType",
               {"GRANTEE_TYPE_UNSPECIFIED": 0, "USER": 1, "GROUP": 2, "EVERYONE": 3})
ROLE = Enum("google.ai.generativelanguage.v1beta.Permission.Role",
            {"ROLE_UNSPECIFIED": 0, "OWNER": 1, "WRITER": 2, "READER": 3})
_HYPER = {"learningRate": "float", "learningRateMultiplier": "float", "epochCount": "int32", "batchSize": "int32"}
TUNED_MODEL_SPEC: dict[str, Any] = {
    "name": OUT, "baseModel": "string", "tunedModelSource": {"tunedModel": "string", "baseModel": OUT},
    "displayName": "string", "description": "string", "temperature": "float", "topP": "float", "topK": "int32",
    "state": OUT, "createTime": OUT, "updateTime": OUT, "readerProjectNumbers": LIST("int64"),
    "tuningTask": {"startTime": OUT, "completeTime": OUT, "snapshots": OUT, "hyperparameters": _HYPER,
                   "trainingData": {"examples": {"examples": LIST({"textInput": "string", "output": "string"})}}},
}
PERMISSION_SPEC = {"name": OUT, "granteeType": GRANTEE, "emailAddress": "string", "role": ROLE}
_ID_RE = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$")


class Gemini:
    def __init__(self, store: Store, clock: Clock, job_duration: float, owner_email: str) -> None:
        self.store = store
        self.clock = clock
        self.job_duration = float(job_duration)
        self.owner_email = owner_email

    # ================================================================== routing
    def handle(self, request: ApiRequest, now: float) -> Any:
        segments, method, verb = request.segments, request.method, request.verb
        if not segments or segments[0] != "tunedModels":
            raise no_route(request)
        beta = request.version == "v1beta"
        if len(segments) == 1 and verb is None and beta:
            if method == "GET":
                return self.list_models(request, now)
            if method == "POST":
                return self.create(request, now)
        name = "/".join(segments[:2])
        if len(segments) == 2:
            if verb is None and beta:
                if method == "GET":
                    check_query(request.query, frozenset())
                    return self.view(self.record(name), now)
                if method == "PATCH":
                    return self.patch(request, name, now)
                if method == "DELETE":
                    check_query(request.query, frozenset())
                    return self.delete(name, now)
            if verb in ("generateContent", "streamGenerateContent") and method == "POST":
                answer = self.generate(request, name, now)
                return [answer] if verb == "streamGenerateContent" else answer
            if verb == "transferOwnership" and method == "POST" and beta:
                return self.transfer_ownership(request, name)
        if len(segments) >= 3 and segments[2] == "operations":
            return self.operation_call(request, name, segments[3:], now)
        if len(segments) >= 3 and segments[2] == "permissions" and beta:
            return self.permission_call(request, name, segments[3:], now)
        raise no_route(request)

    # ================================================================== lifecycle
    def record(self, name: str) -> dict[str, Any]:
        return self.store.require("tunedModels", name, "Tuned model")

    @staticmethod
    def terminal_event(record: dict[str, Any]) -> tuple[float, str]:
        events = [(record["created"] + record["duration"], "ACTIVE")]
        if record.get("failAt") is not None:
            events.append((record["failAt"], "FAILED"))
        return min(events)

    def state(self, record: dict[str, Any], now: float) -> tuple[str, float]:
        if record.get("final"):
            return record["final"]["state"], record["final"]["end"]
        end, terminal = self.terminal_event(record)
        return (terminal, end) if now >= end else ("CREATING", record["created"])

    def due_times(self) -> list[float]:
        return [self.terminal_event(r)[0] for r in self.store["tunedModels"].values() if not r.get("final")]

    def settle(self, now: float) -> None:
        for record in self.store["tunedModels"].values():
            if record.get("final"):
                continue
            end, terminal = self.terminal_event(record)
            if end <= now:
                record["final"] = {"state": terminal, "end": end}
                self.store.changed()

    def progress(self, record: dict[str, Any], now: float) -> tuple[int, list[dict[str, Any]]]:
        """(completed steps, snapshots) at virtual time `now`."""
        state, since = self.state(record, now)
        total, created, duration = record["totalSteps"], record["created"], record["duration"]
        if state == "ACTIVE":
            done = total
        else:
            moment = since if state == "FAILED" else now
            done = total if duration <= 0 else int(total * min(1.0, max(0.0, (moment - created) / duration)))
            done = min(done, total - 1) if state == "CREATING" else done
        steps = range(1, done + 1)
        if done > MAX_SNAPSHOTS:
            steps = sorted({max(1, round(done * i / MAX_SNAPSHOTS)) for i in range(1, MAX_SNAPSHOTS + 1)})
        hyper = record["model"]["tuningTask"]["hyperparameters"]
        examples, batch = record["examples"], hyper["batchSize"]
        snapshots = [{"step": step,
                      "epoch": min(hyper["epochCount"], max(1, math.ceil(step * batch / examples))),
                      "meanLoss": round(0.05 + 2.5 * math.exp(-4.0 * step / total), 6),
                      "computeTime": rfc3339(created + duration * step / total)} for step in steps]
        return done, snapshots

    def view(self, record: dict[str, Any], now: float) -> dict[str, Any]:
        stored = record["model"]
        view = dict(stored)
        state, since = self.state(record, now)
        task = dict(stored["tuningTask"])
        task["startTime"] = stored["createTime"]          # tuning starts as soon as the model is created
        if state == "ACTIVE":
            task["completeTime"] = rfc3339(since)
        _, snapshots = self.progress(record, now)
        if snapshots:
            task["snapshots"] = snapshots
        view["tuningTask"] = task
        view["state"] = state
        if state != "CREATING" and rfc3339(since) > view["updateTime"]:
            view["updateTime"] = rfc3339(since)
        return view

    # ================================================================== tunedModels methods
    def create(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, frozenset({"tunedModelId"}))
        wanted = request.query.get("tunedModelId")
        if wanted is not None and not _ID_RE.match(wanted):
            raise invalid("tuned_model_id", "tuned_model_id must be at most 40 characters, start with a letter, "
                                            "end with a letter or digit, and contain only [a-z0-9-].")
        errors = Violations()
        body = coerce(TUNED_MODEL_SPEC, request.object_body(), "tuned_model", errors)
        if errors:
            raise bad_request(errors)
        examples = self.validate(body)
        if wanted and f"tunedModels/{wanted}" in self.store["tunedModels"]:
            raise RpcError("ALREADY_EXISTS", f"Tuned model tunedModels/{wanted} already exists.")
        name = f"tunedModels/{wanted or self.generated_id(body.get('displayName', ''))}"
        if "tunedModelSource" in body:
            source = self.record(body["tunedModelSource"]["tunedModel"])["model"]
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
        operation = f"{name}/operations/{slug_id(12)}"
        record = {"seq": self.store.next_seq(), "model": model, "created": now, "duration": self.job_duration,
                  "failAt": None, "failError": None, "final": None, "operation": operation,
                  "examples": len(examples),
                  "totalSteps": max(1, math.ceil(len(examples) * hyper["epochCount"] / hyper["batchSize"])),
                  "answers": [[e.get("textInput", ""), e["output"]] for e in examples[:MAX_REMEMBERED_EXAMPLES]]}
        self.store["tunedModels"][name] = record
        self.store["geminiOperations"][operation] = {"seq": self.store.next_seq(), "model": name, "frozen": None}
        owner = f"{name}/permissions/{slug_id(10)}"
        self.store["permissions"][owner] = {"seq": self.store.next_seq(), "permission": {
            "name": owner, "granteeType": "USER", "emailAddress": self.owner_email, "role": "OWNER"}}
        self.store.changed()
        self.settle(now)
        return self.operation_view(self.store["geminiOperations"][operation], now)

    def validate(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        problems: list[tuple[str, str]] = []
        if ("baseModel" in body) == ("tunedModelSource" in body):
            problems.append(("tuned_model.base_model", "Exactly one of base_model or tuned_model_source is required."))
        elif "baseModel" in body and not body["baseModel"].startswith("models/"):
            problems.append(("tuned_model.base_model", "base_model must look like models/{model}."))
        elif "tunedModelSource" in body and not body["tunedModelSource"].get("tunedModel"):
            problems.append(("tuned_model.tuned_model_source.tuned_model", "tuned_model is required."))
        problems += self.mutable_problems(body)
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
                    problems.append((f"tuned_model.tuning_task.hyperparameters.{_snake(key)}",
                                     f"{_snake(key)} must be positive."))
        if problems:
            raise bad_request(problems)
        return examples

    @staticmethod
    def mutable_problems(body: dict[str, Any]) -> list[tuple[str, str]]:
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

    def generated_id(self, display_name: str) -> str:
        """`Sentence Translator` -> `sentence-translator-u3b7m`; fully random without a display name."""
        words = "-".join(re.findall(r"[a-z0-9]+", display_name.lower()))[:34].strip("-")
        while True:
            if words and words[0].isalpha():
                candidate = f"{words}-{slug_id(5)}"
            else:
                candidate = slug_id(11)
            if f"tunedModels/{candidate}" not in self.store["tunedModels"]:
                return candidate

    def list_models(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, frozenset({"pageSize", "pageToken", "filter"}))
        text = request.query.get("filter", "")
        items = [r for r in self.store["tunedModels"].values() if self.matches(r, text)]
        page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                                       request_key=listing.fingerprint("tunedModels", text))
        return listing.with_token({"tunedModels": [self.view(r, now) for r in page]} if page else {}, token)

    def matches(self, record: dict[str, Any], text: str) -> bool:
        """Full-text search over displayName and description; owner:me / writers:me / readers:me match every
        model (the caller owns them all); readers:everyone matches models shared with EVERYONE."""
        model = record["model"]
        haystack = f"{model.get('displayName', '')} {model.get('description', '')}".lower()
        for word in text.split():
            lowered = word.lower()
            if lowered in ("owner:me", "writers:me", "readers:me"):
                continue
            if lowered == "readers:everyone":
                prefix = model["name"] + "/permissions/"
                if not any(n.startswith(prefix) and p["permission"].get("granteeType") == "EVERYONE"
                           for n, p in self.store["permissions"].items()):
                    return False
                continue
            if lowered.strip('"') not in haystack:
                return False
        return True

    def patch(self, request: ApiRequest, name: str, now: float) -> dict[str, Any]:
        check_query(request.query, frozenset({"updateMask"}))
        errors = Violations()
        body = coerce(TUNED_MODEL_SPEC, request.object_body(), "tuned_model", errors)
        if errors:
            raise bad_request(errors)
        record = self.record(name)
        mask = request.query.get("updateMask")
        if mask:
            paths = [camel(path.strip()) for path in mask.split(",") if path.strip()]
            for path in paths:
                if path.split(".")[0] in IMMUTABLE:
                    raise invalid("update_mask", f"Field {path!r} cannot be updated (immutable or output only).")
                if path not in MUTABLE:
                    raise invalid("update_mask", f"Unknown update_mask path {path!r}; updatable: "
                                                 + ", ".join(MUTABLE) + ".")
        else:
            paths = list(MUTABLE)   # no mask: replace every mutable field (AIP-134)
        problems = self.mutable_problems({k: body[k] for k in paths if k in body})
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
        return self.view(record, now)

    def delete(self, name: str, now: float) -> dict[str, Any]:
        record = self.record(name)
        self.freeze_operation(record, now)
        del self.store["tunedModels"][name]
        for key in [k for k in self.store["permissions"] if k.startswith(name + "/permissions/")]:
            del self.store["permissions"][key]
        self.store.changed()
        return {}

    def freeze_operation(self, record: dict[str, Any], now: float) -> None:
        """Keep the create operation readable after its model is gone (a CREATING tune ends CANCELLED)."""
        operation = self.store["geminiOperations"].get(record["operation"])
        if operation is None:
            return
        view = self.operation_view(operation, now)
        if not view.get("done"):
            view["done"] = True
            view["error"] = status("CANCELLED", "Tuning was stopped because the tuned model was deleted.")
        operation["frozen"] = view

    def generate(self, request: ApiRequest, name: str, now: float) -> dict[str, Any]:
        check_query(request.query, frozenset())
        body = request.object_body()
        record = self.record(name)
        state, _ = self.state(record, now)
        if state != "ACTIVE":
            raise precondition(f"Tuned model {name} is not ready: its state is {state}.")
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise invalid("contents", "contents is required.")
        prompt = " ".join(part.get("text", "") for content in contents if isinstance(content, dict)
                          for part in content.get("parts", []) if isinstance(part, dict)).strip()
        last = ""
        for content in contents:
            texts = [p.get("text", "") for p in content.get("parts", []) if isinstance(p, dict)] \
                if isinstance(content, dict) else []
            if texts and content.get("role", "user") == "user":
                last = " ".join(texts).strip()
        answers = record["answers"]
        # Deterministic: the trained output for a known input, else a stable pick among the outputs.
        text = next((out for given, out in answers if given.strip() == last), None)
        if text is None:
            text = answers[stable_int(last, 0, len(answers) - 1)][1] if answers else "OK"
        prompt_tokens, answer_tokens = max(1, len(prompt.split())), max(1, len(text.split()))
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": prompt_tokens, "candidatesTokenCount": answer_tokens,
                                  "totalTokenCount": prompt_tokens + answer_tokens},
                "modelVersion": name}

    def transfer_ownership(self, request: ApiRequest, name: str) -> dict[str, Any]:
        check_query(request.query, frozenset())
        errors = Violations()
        body = coerce({"name": "string", "emailAddress": "string"}, request.object_body(), "", errors)
        if errors:
            raise bad_request(errors)
        self.record(name)
        email = body.get("emailAddress")
        if not email:
            raise invalid("email_address", "email_address is required.")
        prefix = name + "/permissions/"
        mine = {k: p["permission"] for k, p in self.store["permissions"].items() if k.startswith(prefix)}
        target = None
        for permission in mine.values():
            if permission.get("role") == "OWNER":
                permission["role"] = "WRITER"     # not documented; the previous owner is demoted to writer
            if permission.get("granteeType") == "USER" and permission.get("emailAddress") == email:
                target = permission
        if target is None:
            key = prefix + slug_id(10)
            target = {"name": key, "granteeType": "USER", "emailAddress": email}
            self.store["permissions"][key] = {"seq": self.store.next_seq(), "permission": target}
        target["role"] = "OWNER"
        self.store.changed()
        return {}

    # ================================================================== operations
    def operation_view(self, operation: dict[str, Any], now: float) -> dict[str, Any]:
        if operation.get("frozen"):
            return operation["frozen"]
        record = self.store["tunedModels"][operation["model"]]
        name = record["operation"]
        done, snapshots = self.progress(record, now)
        total = record["totalSteps"]
        metadata: dict[str, Any] = {"@type": TYPE + "CreateTunedModelMetadata", "tunedModel": operation["model"],
                                    "totalSteps": total}
        if done:
            metadata["completedSteps"] = done
            metadata["completedPercent"] = round(100.0 * done / total, 2)
        if snapshots:
            metadata["snapshots"] = snapshots
        view: dict[str, Any] = {"name": name, "metadata": metadata}
        state, _ = self.state(record, now)
        if state == "ACTIVE":
            view["done"] = True
            view["response"] = {"@type": TYPE + "TunedModel", **self.view(record, now)}
        elif state == "FAILED":
            view["done"] = True
            view["error"] = record["failError"]
        return view

    def operation_call(self, request: ApiRequest, model: str, rest: list[str], now: float) -> dict[str, Any]:
        method, verb = request.method, request.verb
        if not rest and method == "GET" and verb is None:
            check_query(request.query, frozenset({"filter", "pageSize", "pageToken"}))
            prefix = model + "/operations/"
            items = [op for key, op in self.store["geminiOperations"].items() if key.startswith(prefix)]
            if not items:
                self.record(model)
            page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                                           request_key=listing.fingerprint("operations", model))
            return listing.with_token({"operations": [self.operation_view(op, now) for op in page]} if page else {}, token)
        if len(rest) == 1:
            name = f"{model}/operations/{rest[0]}"
            operation = self.store["geminiOperations"].get(name)
            if operation is None:
                raise not_found("Operation", name)
            check_query(request.query, frozenset())
            if method == "GET" and verb is None:
                return self.operation_view(operation, now)
            if method == "POST" and verb == "cancel" and request.version == "v1":   # no cancel rule in v1beta
                # google.longrunning cancel (v1 surface): a running tune stops and the model ends FAILED.
                record = self.store["tunedModels"].get(operation["model"])
                if record is not None and self.state(record, now)[0] == "CREATING":
                    record["failAt"] = now
                    record["failError"] = status("CANCELLED", "Operation cancelled by the caller.")
                    self.settle(now)
                    self.store.changed()
                return {}
        raise no_route(request)

    # ================================================================== permissions
    def permission_call(self, request: ApiRequest, model: str, rest: list[str], now: float) -> dict[str, Any]:
        method, verb = request.method, request.verb
        if verb is not None:
            raise no_route(request)
        record = self.record(model)
        prefix = model + "/permissions/"
        if not rest and method == "GET":
            check_query(request.query, frozenset({"pageSize", "pageToken"}))
            items = [p["permission"] for k, p in self.store["permissions"].items() if k.startswith(prefix)]
            page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                                           request_key=listing.fingerprint("permissions", model))
            return listing.with_token({"permissions": page} if page else {}, token)
        if not rest and method == "POST":
            check_query(request.query, frozenset())
            return self.create_permission(request, model, prefix)
        if len(rest) == 1:
            name = prefix + rest[0]
            stored = self.store["permissions"].get(name)
            if stored is None:
                raise not_found("Permission", name)
            permission = stored["permission"]
            if method == "GET":
                check_query(request.query, frozenset())
                return permission
            if method == "PATCH":
                check_query(request.query, frozenset({"updateMask"}))
                return self.patch_permission(request, permission)
            if method == "DELETE":
                check_query(request.query, frozenset())
                if permission.get("role") == "OWNER":
                    raise precondition("The owner's permission cannot be deleted; transfer ownership first.")
                del self.store["permissions"][name]
                record["model"]["updateTime"] = rfc3339(now)
                self.store.changed()
                return {}
        raise no_route(request)

    def create_permission(self, request: ApiRequest, model: str, prefix: str) -> dict[str, Any]:
        errors = Violations()
        body = coerce(PERMISSION_SPEC, request.object_body(), "permission", errors)
        if errors:
            raise bad_request(errors)
        grantee, email, role = body.get("granteeType"), body.get("emailAddress"), body.get("role")
        problems = []
        if role in (None, "ROLE_UNSPECIFIED"):
            problems.append(("permission.role", "role is required."))
        elif role == "OWNER":
            # Not documented; one owner per model, changed with tunedModels.transferOwnership.
            problems.append(("permission.role", "OWNER cannot be granted; use tunedModels.transferOwnership."))
        if grantee in (None, "GRANTEE_TYPE_UNSPECIFIED"):
            problems.append(("permission.grantee_type", "grantee_type is required."))
        elif grantee in ("USER", "GROUP") and not email:
            problems.append(("permission.email_address", "email_address is required for USER and GROUP."))
        elif grantee == "EVERYONE" and email:
            problems.append(("permission.email_address", "email_address must be unset for EVERYONE."))
        if problems:
            raise bad_request(problems)
        for stored in self.store["permissions"].values():
            existing = stored["permission"]
            if existing["name"].startswith(prefix) and existing.get("granteeType") == grantee \
                    and existing.get("emailAddress") == email:
                raise RpcError("ALREADY_EXISTS", f"A permission for this grantee already exists: {existing['name']}.")
        name = prefix + slug_id(10)
        permission = {"name": name, "granteeType": grantee, **({"emailAddress": email} if email else {}),
                      "role": role}
        self.store["permissions"][name] = {"seq": self.store.next_seq(), "permission": permission}
        self.store.changed()
        return permission

    def patch_permission(self, request: ApiRequest, permission: dict[str, Any]) -> dict[str, Any]:
        mask = [camel(p.strip()) for p in request.query.get("updateMask", "").split(",") if p.strip()]
        if mask != ["role"]:
            raise invalid("update_mask", "update_mask is required and may only contain 'role'.")
        errors = Violations()
        body = coerce(PERMISSION_SPEC, request.object_body(), "permission", errors)
        if errors:
            raise bad_request(errors)
        role = body.get("role")
        if role in (None, "ROLE_UNSPECIFIED"):
            raise invalid("permission.role", "role is required.")
        if role == "OWNER" or permission.get("role") == "OWNER":
            raise precondition("Ownership changes only through tunedModels.transferOwnership.")
        permission["role"] = role
        self.store.changed()
        return permission

    # ================================================================== out-of-band (admin) mutations
    def admin_fail(self, name: str, error: dict[str, Any], now: float) -> None:
        record = self.record(name)
        state, _ = self.state(record, now)
        if state != "CREATING":
            raise precondition(f"Tuned model {name} is not CREATING (state {state}).")
        record["failAt"], record["failError"] = now, error
        self.settle(now)
        self.store.changed()

    def admin_delete(self, name: str, now: float) -> None:
        self.delete(name, now)

    def admin_patch(self, name: str, fields: dict[str, Any], now: float) -> None:
        model = self.record(name)["model"]
        for key, value in fields.items():
            if key == "labels":
                raise invalid("labels", "Gemini API tuned models have no labels.")
            model[key] = value
        model["updateTime"] = rfc3339(now)
        self.store.changed()


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()

