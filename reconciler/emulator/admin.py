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
    GET    /__emulator__/tokens                      -> {"grants": N}  access tokens POST /token issued
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
A body must come as `Content-Type: application/json` (415 otherwise), a call from a web page is refused (403):
see guard.py. GET routes only read. Numbers must be finite and bounded (limits.py); NaN/Infinity are not JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .clock import rfc3339
from .limits import MAX_CLOCK_ADVANCE
from .names import canonical
from .rpc import Reply, RpcError, bad_request, code_name_of, invalid, status
from .service import Service

ALIASES = {"tuningJobs:fail": "resources:fail", "tunedModels:fail": "resources:fail",
           "models:delete": "resources:delete", "endpoints:delete": "resources:delete",
           "tunedModels:delete": "resources:delete", "labels:set": "resources:patch",
           "tuningJobs:ignoreCancel": "resources:ignoreCancel"}
PATCHABLE = ("labels", "displayName", "description")
ADVANCE_HELP = f"Send {{\"seconds\": N}}, a finite number with 0 <= N <= {MAX_CLOCK_ADVANCE:.0f} (10 years)"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class Admin:
    """The admin surface over a `Service`: one table of (method, route) -> handler(body) (None answers {}),
    plus the `resources:ACTION` mutations, each run on the named resource under the store lock."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.routes: dict[tuple[str, str], Callable[[Any], Any]] = {
            ("GET", "health"): lambda body: {"status": "ok"},
            ("GET", "tokens"): lambda body: {"grants": service.auth.grants},
            ("GET", "clock"): lambda body: self.clock(),
            ("POST", "clock:advance"): self.advance,
            ("GET", "requests"): lambda body: {"requests": service.requests()},
            ("DELETE", "requests"): lambda body: service.clear_requests(),
            ("POST", "reset"): lambda body: service.reset(),
            ("GET", "faults"): lambda body: {"faults": service.faults.describe(), "seed": service.faults.seed},
            ("POST", "faults"): self.add_faults,
            ("DELETE", "faults"): lambda body: service.faults.clear(),
        }
        self.mutations: dict[str, Callable[[str, bool, dict[str, Any], float], None]] = {
            "fail": self.fail, "delete": self.delete, "patch": self.patch, "ignoreCancel": self.ignore_cancel}

    def serve(self, method: str, route: str, raw_body: bytes) -> Reply:
        try:
            body = json.loads(raw_body, parse_constant=_no_constant) if raw_body.strip() else None
        except ValueError as err:
            return bad_request([("", f"Invalid JSON: {err}")]).reply()
        try:
            return Reply(200, self.dispatch(method, ALIASES.get(route.strip("/"), route.strip("/")), body))
        except RpcError as err:
            return err.reply()
        except Exception as err:  # noqa: BLE001 - answer in the envelope rather than drop the connection
            return RpcError("INTERNAL", f"Internal error in the emulator admin surface: {err!r}").reply()

    def dispatch(self, method: str, route: str, body: Any) -> Any:
        if method == "POST" and route.startswith("resources:"):
            return self.mutate(route.partition(":")[2], body)
        handler = self.routes.get((method, route))
        if handler is None:
            raise RpcError("NOT_FOUND", f"No admin route {method} /__emulator__/{route}.")
        result = handler(body)
        return {} if result is None else result

    def clock(self) -> dict[str, Any]:
        clock = self.service.clock
        return {"now": rfc3339(clock.now()), "offsetSeconds": clock.offset}

    def advance(self, body: Any) -> dict[str, Any]:
        seconds = (body or {}).get("seconds") if isinstance(body, dict) else None
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
            raise invalid("seconds", ADVANCE_HELP)
        try:
            self.service.advance(seconds)
        except ValueError as err:   # not finite, out of bounds, or beyond the clock's maximum offset
            raise invalid("seconds", f"{ADVANCE_HELP} ({err}).") from None
        return self.clock()

    def add_faults(self, body: Any) -> dict[str, Any]:
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
        return {"faults": self.service.add_faults(rules, seed)}

    # ------------------------------------------------------------------ out-of-band mutations (drift)
    def mutate(self, action: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise invalid("name", "Send {\"name\": \"<full resource name>\", ...}.")
        name = canonical(body["name"].strip("/"))
        with self.service.transaction(settle_all=True) as now:
            mutation = self.mutations.get(action)
            if mutation is None:
                raise RpcError("NOT_FOUND", f"No admin route POST /__emulator__/resources:{action}.")
            mutation(name, name.startswith("tunedModels/"), body, now)
        return {}

    def fail(self, name: str, gemini: bool, body: dict[str, Any], now: float) -> None:
        code = code_name_of(body.get("code"), "INTERNAL")
        message = body.get("message") or "Tuning failed (injected by the emulator)."
        if not gemini and "/tuningJobs/" not in name:
            raise invalid("name", "resources:fail takes a tuning job or a tuned model.")
        (self.service.gemini if gemini else self.service.vertex).admin_fail(name, status(code, message), now)

    def delete(self, name: str, gemini: bool, body: dict[str, Any], now: float) -> None:
        if gemini:
            self.service.gemini.admin_delete(name, now)
        elif not self.service.vertex.admin_delete(name):
            raise invalid("name", "resources:delete takes a model, endpoint or tuned model "
                                  "(tuning jobs cannot be deleted).")

    def patch(self, name: str, gemini: bool, body: dict[str, Any], now: float) -> None:
        fields = {k: v for k, v in body.items() if k != "name"}
        bad = sorted(set(fields) - set(PATCHABLE))
        if bad or not fields:
            raise invalid("fields", f"resources:patch edits {', '.join(PATCHABLE)}.")
        if "labels" in fields and not (isinstance(fields["labels"], dict)
                                       and all(isinstance(v, str) for v in fields["labels"].values())):
            raise invalid("labels", "labels must be a map of strings.")
        if gemini:
            self.service.gemini.admin_patch(name, fields, now)
        elif not self.service.vertex.admin_patch(name, fields, now):
            raise invalid("name", "Unsupported resource for resources:patch.")

    def ignore_cancel(self, name: str, gemini: bool, body: dict[str, Any], now: float) -> None:
        if gemini or "/tuningJobs/" not in name:
            raise invalid("name", "resources:ignoreCancel takes a Vertex tuning job.")
        self.service.vertex.admin_ignore_cancel(name)
