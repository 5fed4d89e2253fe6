"""The admin surface under /__emulator__/ (not part of either Google API; no auth; never logged or faulted).

    GET    /__emulator__/health                      -> {"status": "ok"}
    GET    /__emulator__/clock                       -> {"now": RFC3339, "offsetSeconds": N}
    POST   /__emulator__/clock:advance               {"seconds": N} -> {"now", "offsetSeconds"}
    GET    /__emulator__/requests                    -> {"requests": [{"method","path","query","status","time",...}]}
    DELETE /__emulator__/requests                    -> {}   (clears the log only)
    POST   /__emulator__/reset                       -> {}   (state, clock offset, log and faults)
    GET    /__emulator__/faults                      -> {"faults": [rule + id, hits, remaining], "seed": N}
    POST   /__emulator__/faults                      [rule, ...] or {"faults": [rule, ...], "seed": N}
                                                     -> {"faults": [added rules with their ids]}
    DELETE /__emulator__/faults                      -> {}
Out-of-band mutations (drift), each with {"name": full resource name (project id or number), ...}:
    POST   /__emulator__/resources:fail              {"name", "message"?, "code"? (name or number)}
           a non-terminal Vertex tuning job -> JOB_STATE_FAILED; a CREATING Gemini tuned model -> FAILED
    POST   /__emulator__/resources:delete            {"name"}  a Vertex model (or model@N version) or endpoint,
           bypassing the deployed-model checks; or a Gemini tuned model
    POST   /__emulator__/resources:patch             {"name", "labels"?, "displayName"?, "description"?}
           edits a Vertex tuning job, model (model@N: version labels) or endpoint, or a Gemini tuned model
           (no labels there); "labels" replaces the whole map
    POST   /__emulator__/resources:ignoreCancel      {"name"}  the Vertex tuning job ignores cancel: it
           shows JOB_STATE_CANCELLING after a cancel and still ends JOB_STATE_SUCCEEDED
Aliases: tuningJobs:fail, tunedModels:fail -> resources:fail; models:delete, endpoints:delete,
tunedModels:delete -> resources:delete; labels:set -> resources:patch; tuningJobs:ignoreCancel.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .clock import rfc3339
from .names import canonical
from .rpc import RpcError, bad_request, code_name_of, invalid, status

if TYPE_CHECKING:
    from .server import Emulator, Reply

ALIASES = {"tuningJobs:fail": "resources:fail", "tunedModels:fail": "resources:fail",
           "models:delete": "resources:delete", "endpoints:delete": "resources:delete",
           "tunedModels:delete": "resources:delete", "labels:set": "resources:patch",
           "tuningJobs:ignoreCancel": "resources:ignoreCancel"}
PATCHABLE = ("labels", "displayName", "description")


class Admin:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def serve(self, method: str, route: str, raw_body: bytes) -> Reply:
        from .server import Reply

        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError as err:
            error = bad_request([("", f"Invalid JSON: {err}")])
            return Reply(error.http_status, error.body())
        try:
            return Reply(200, self.dispatch(method, ALIASES.get(route.strip("/"), route.strip("/")), body))
        except RpcError as err:
            return Reply(err.http_status, err.body(), dict(err.headers))
        except Exception as err:  # noqa: BLE001 - answer in the envelope rather than drop the connection
            failure = RpcError("INTERNAL", f"Internal error in the emulator admin surface: {err!r}")
            return Reply(failure.http_status, failure.body())

    def dispatch(self, method: str, route: str, body: Any) -> Any:
        emulator = self.emulator
        if (method, route) == ("GET", "health"):
            return {"status": "ok"}
        if (method, route) == ("GET", "clock"):
            return self.clock()
        if (method, route) == ("POST", "clock:advance"):
            seconds = (body or {}).get("seconds") if isinstance(body, dict) else None
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                raise invalid("seconds", "Send {\"seconds\": N} with N >= 0.")
            emulator.advance(float(seconds))
            return self.clock()
        if (method, route) == ("GET", "requests"):
            return {"requests": emulator.requests()}
        if (method, route) == ("DELETE", "requests"):
            emulator.clear_requests()
            return {}
        if (method, route) == ("POST", "reset"):
            emulator.reset()
            return {}
        if route == "faults":
            return self.faults(method, body)
        if method == "POST" and route.startswith("resources:"):
            return self.mutate(route.partition(":")[2], body)
        raise RpcError("NOT_FOUND", f"No admin route {method} /__emulator__/{route}.")

    def clock(self) -> dict[str, Any]:
        clock = self.emulator.clock
        return {"now": rfc3339(clock.now()), "offsetSeconds": clock.offset}

    def faults(self, method: str, body: Any) -> dict[str, Any]:
        faults = self.emulator.faults
        if method == "GET":
            return {"faults": faults.describe(), "seed": faults.seed}
        if method == "DELETE":
            faults.clear()
            return {}
        if method == "POST":
            seed = None
            if isinstance(body, dict):
                seed = body.get("seed")
                rules = body.get("faults", [])
            else:
                rules = body
            if not isinstance(rules, list):
                raise invalid("faults", "Send a list of fault rules, or {\"faults\": [...], \"seed\": N}.")
            if seed is not None and not isinstance(seed, int):
                raise invalid("seed", "seed must be an integer.")
            return {"faults": self.emulator.add_faults(rules, seed)}
        raise RpcError("NOT_FOUND", f"No admin route {method} /__emulator__/faults.")

    def mutate(self, action: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise invalid("name", "Send {\"name\": \"<full resource name>\", ...}.")
        emulator = self.emulator
        name = canonical(body["name"].strip("/"))
        gemini = name.startswith("tunedModels/")
        with emulator.store.lock:
            now = emulator.clock.now()
            emulator.settle(now)
            try:
                if action == "fail":
                    code = code_name_of(body.get("code"), "INTERNAL")
                    message = body.get("message") or "Tuning failed (injected by the emulator)."
                    target = emulator.gemini if gemini else emulator.vertex
                    if not gemini and "/tuningJobs/" not in name:
                        raise invalid("name", "resources:fail takes a tuning job or a tuned model.")
                    target.admin_fail(name, status(code, message), now)
                elif action == "delete":
                    if gemini:
                        emulator.gemini.admin_delete(name, now)
                    elif not emulator.vertex.admin_delete(name):
                        raise invalid("name", "resources:delete takes a model, endpoint or tuned model "
                                              "(tuning jobs cannot be deleted).")
                elif action == "patch":
                    fields = {k: v for k, v in body.items() if k != "name"}
                    bad = sorted(set(fields) - set(PATCHABLE))
                    if bad or not fields:
                        raise invalid("fields", f"resources:patch edits {', '.join(PATCHABLE)}.")
                    if "labels" in fields and not (isinstance(fields["labels"], dict)
                                                   and all(isinstance(v, str) for v in fields["labels"].values())):
                        raise invalid("labels", "labels must be a map of strings.")
                    if gemini:
                        emulator.gemini.admin_patch(name, fields, now)
                    elif not emulator.vertex.admin_patch(name, fields, now):
                        raise invalid("name", "Unsupported resource for resources:patch.")
                elif action == "ignoreCancel":
                    if gemini or "/tuningJobs/" not in name:
                        raise invalid("name", "resources:ignoreCancel takes a Vertex tuning job.")
                    emulator.vertex.admin_ignore_cancel(name)
                else:
                    raise RpcError("NOT_FOUND", f"No admin route POST /__emulator__/resources:{action}.")
            finally:
                emulator.commit()
        return {}
