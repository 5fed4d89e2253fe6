"""The emulator application: the route table of both APIs, and `Emulator`, which turns one HTTP request into a
`Reply` (admin surface or API call: auth, quota, faults, latency, the request log) and serves it on loopback.
Cloud Storage calls (/storage/, /upload/, /download/) go to the `storage` package, through the same quota,
faults, latency and request log, and answer in Cloud Storage's own error envelope.
`python -m reconciler.emulator` runs it; `from reconciler.emulator import Emulator` embeds it."""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

from .admin import Admin
from .auth import Auth
from .clock import rfc3339
from .faults import Effects, Faults, Quota
from .gemini import Gemini
from .guard import admin_refusal
from .limits import MAX_JOB_DURATION, MAX_LATENCY_MS, MAX_QUOTA_RPS, bounded, exposure_warning, is_loopback
from .redact import redact_body, redact_query
from .routing import Api, ApiRequest, Route, clean_query, split_verb
from .rpc import Reply, RpcError, bad_request, unauthenticated
from .server import HttpServer
from .service import Service
from .storage import is_storage_path
from .storage.errors import from_rpc
from .storage.errors import internal as storage_internal
from .vertex import Vertex

ADMIN_PREFIX = "/__emulator__/"
TOKEN_PATH = "/token"     # the OAuth 2 token endpoint a service-account key file's token_uri may name

# ---------------------------------------------------------------------------------------------- the route table
LOCATION = "projects/{project}/locations/{location}"
NESTED = LOCATION + "/{collection=tuningJobs|models|endpoints}/{resource}"   # whose operations these are
V1BETA, V1 = frozenset({"v1beta"}), frozenset({"v1"})


def _bearer(headers: dict[str, str]) -> bool:
    value = headers.get("authorization", "")
    return value[:7].lower() == "bearer " and bool(value[7:].strip())


def _vertex_credentials(headers: dict[str, str], pairs: list[tuple[str, str]]) -> bool:
    return _bearer(headers) or any(k == "access_token" and v for k, v in pairs)


def _gemini_credentials(headers: dict[str, str], pairs: list[tuple[str, str]]) -> bool:
    return bool(headers.get("x-goog-api-key") or _bearer(headers) or any(k == "key" and v for k, v in pairs))


def api_table(vertex: Vertex, gemini: Gemini) -> tuple[Api, ...]:
    """Every method of both APIs. Within an API the first matching route serves; a call no route takes is
    404 NOT_FOUND ("No method ... exists in this API"). The `unmatched` rows catch any other method on one
    resource: they make the checks that come first there (no query parameters; the resource exists), then 404."""
    jobs, models, versions, endpoints = vertex.jobs, vertex.models, vertex.versions, vertex.endpoints
    operations = vertex.operations
    tuned, generation = gemini.models, gemini.generation
    tuned_operations, permissions = gemini.operations, gemini.permissions
    at = LOCATION + "/"
    vertex_api = Api(
        "aiplatform.googleapis.com", frozenset({"v1", "v1beta1"}), "projects", _vertex_credentials,
        "Request is missing required authentication credential. Expected OAuth 2 access token (Authorization: "
        "Bearer ...).", (
            Route("GET", at + "tuningJobs", jobs.list),
            Route("POST", at + "tuningJobs", jobs.create),
            Route("POST", at + "tuningJobs:rebaseTunedModel", jobs.rebase),
            Route("GET", at + "tuningJobs/{job}", jobs.get),
            Route("POST", at + "tuningJobs/{job}:cancel", jobs.cancel),
            Route("*", at + "tuningJobs/{job}:*", jobs.unmatched),
            Route("GET", at + "models", models.list),
            Route("GET", at + "models/{model}", models.get),
            Route("PATCH", at + "models/{model}", models.patch),
            Route("DELETE", at + "models/{model}", models.delete),
            Route("GET", at + "models/{model}:listVersions", versions.list_versions),
            Route("GET", at + "models/{model}:listCheckpoints", versions.list_checkpoints),
            Route("DELETE", at + "models/{model}:deleteVersion", versions.delete_version),
            Route("GET", at + "endpoints", endpoints.list),
            Route("GET", at + "endpoints/{endpoint}", endpoints.get),
            Route("DELETE", at + "endpoints/{endpoint}", endpoints.delete),
            Route("POST", at + "endpoints/{endpoint}:undeployModel", endpoints.undeploy),
            Route("*", at + "endpoints/{endpoint}:*", endpoints.unmatched),
            Route("GET", at + "metadataStores/{store}/contexts/{context}", jobs.experiment),
            Route("GET", at + "operations", operations.list),
            Route("GET", at + "operations/{operation}", operations.get),
            Route("POST", at + "operations/{operation}:wait", operations.wait),
            Route("POST", at + "operations/{operation}:cancel", operations.cancel),
            Route("DELETE", at + "operations/{operation}", operations.delete),
            Route("GET", NESTED + "/operations", operations.list),
            Route("GET", NESTED + "/operations/{operation}", operations.get),
            Route("POST", NESTED + "/operations/{operation}:wait", operations.wait),
            Route("POST", NESTED + "/operations/{operation}:cancel", operations.cancel),
            Route("DELETE", NESTED + "/operations/{operation}", operations.delete),
        ))
    gemini_api = Api(
        "generativelanguage.googleapis.com", frozenset({"v1beta", "v1"}), "tunedModels", _gemini_credentials,
        "Request is missing required authentication credential: send an API key (x-goog-api-key header or "
        "?key=) or an OAuth 2 bearer token.", (
            Route("GET", "tunedModels", tuned.list, V1BETA),
            Route("POST", "tunedModels", tuned.create, V1BETA),
            Route("GET", "tunedModels/{model}", tuned.get, V1BETA),
            Route("PATCH", "tunedModels/{model}", tuned.patch, V1BETA),
            Route("DELETE", "tunedModels/{model}", tuned.delete, V1BETA),
            Route("POST", "tunedModels/{model}:generateContent", generation.generate),
            Route("POST", "tunedModels/{model}:streamGenerateContent", generation.stream_generate),
            Route("POST", "tunedModels/{model}:transferOwnership", permissions.transfer_ownership, V1BETA),
            Route("GET", "tunedModels/{model}/operations", tuned_operations.list),
            Route("GET", "tunedModels/{model}/operations/{operation}", tuned_operations.get),
            Route("POST", "tunedModels/{model}/operations/{operation}:cancel", tuned_operations.cancel,
                  V1),                                                  # no cancel rule in v1beta
            Route("*", "tunedModels/{model}/operations/{operation}:*", tuned_operations.unmatched),
            Route("GET", "tunedModels/{model}/permissions", permissions.list, V1BETA),
            Route("POST", "tunedModels/{model}/permissions", permissions.create, V1BETA),
            Route("GET", "tunedModels/{model}/permissions/{permission}", permissions.get, V1BETA),
            Route("PATCH", "tunedModels/{model}/permissions/{permission}", permissions.patch, V1BETA),
            Route("DELETE", "tunedModels/{model}/permissions/{permission}", permissions.delete, V1BETA),
            Route("*", "tunedModels/{model}/permissions/{permission}", permissions.unmatched, V1BETA),
            Route("*", "tunedModels/{model}/permissions/**", permissions.unmatched, V1BETA),
        ))
    catalogue = gemini.catalogue
    base_models = Api(   # models.get / models.list: the base models and the methods each supports (catalogue.py)
        "generativelanguage.googleapis.com", frozenset({"v1beta", "v1"}), "models", _gemini_credentials,
        gemini_api.unauthenticated, (
            Route("GET", "models", catalogue.list),
            Route("GET", "models/{model}", catalogue.get),
        ))
    return vertex_api, gemini_api, base_models


# ---------------------------------------------------------------------------------------------- the application
class Emulator:
    """The local emulator of both tuning APIs, embeddable in-process:

        with Emulator(state_file="state.json", job_duration=60, latency_ms=0) as emu:
            base_url = emu.base_url            # "http://127.0.0.1:PORT" (port 0 picks a free one)
            emu.advance(30)                    # push the virtual clock forward
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, job_duration: float = 60.0,
                 latency_ms: float = 0.0, state_file: str | None = None, quota_rps: float | None = None,
                 fault_seed: int = 0, record_bodies: bool = False, owner_email: str = "owner@example.com",
                 log_limit: int = 100_000, token_lifetime: float | None = None, operation_duration: float = 0.0,
                 gemini_tunable: str = "seeds", reject_job_label_filter: bool = False) -> None:
        self.host, self.port = host, bounded("port", port, 0, 65535, integer=True)
        self.loopback = is_loopback(host)          # refined to the bound address by start()
        # ValueError for a value that is not finite or out of bounds (NaN latency broke every call)
        self.latency_ms = bounded("latency_ms", latency_ms, 0, MAX_LATENCY_MS)
        job_duration = bounded("job_duration", job_duration, 0, MAX_JOB_DURATION)
        if quota_rps is not None and not bounded("quota_rps", quota_rps, 0, MAX_QUOTA_RPS) > 0:
            raise ValueError(f"quota_rps must be a finite number above 0, not {quota_rps!r}")
        if token_lifetime is not None:
            token_lifetime = bounded("token_lifetime", token_lifetime, 1, MAX_JOB_DURATION)
        operation_duration = bounded("operation_duration", operation_duration, 0, MAX_JOB_DURATION)
        self.record_bodies = record_bodies
        self.service = Service(state_file=state_file, job_duration=job_duration, owner_email=owner_email,
                               fault_seed=fault_seed, log_limit=log_limit, operation_duration=operation_duration,
                               gemini_tunable=gemini_tunable, token_lifetime=token_lifetime)
        self.auth = self.service.auth
        self.quota = Quota(quota_rps) if quota_rps else None
        self.service.vertex.jobs.reject_label_filter = reject_job_label_filter
        self.apis = api_table(self.service.vertex, self.service.gemini)
        self.admin = Admin(self.service)
        self._http: HttpServer | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def base_url(self) -> str:
        if self._http is None:
            raise RuntimeError("the emulator is not started")
        return self._http.base_url

    def start(self) -> str:
        if self._http is None:
            self._http = HttpServer(self.host, self.port, self.serve)
            host, port = self._http.address
            self.loopback = is_loopback(host)
            if not self.loopback:
                print(exposure_warning(host, port), file=sys.stderr, flush=True)
        return self.base_url

    def stop(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            http.close()

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ embedding helpers (also on the admin surface)
    def advance(self, seconds: float) -> float:
        return self.service.advance(seconds)

    def requests(self) -> list[dict[str, Any]]:
        return self.service.requests()

    def clear_requests(self) -> None:
        self.service.clear_requests()

    def add_faults(self, rules: list[dict[str, Any]], seed: int | None = None) -> list[dict[str, Any]]:
        return self.service.add_faults(rules, seed)

    def clear_faults(self) -> None:
        self.service.faults.clear()

    def reset(self) -> None:
        self.service.reset()

    def token_grants(self) -> int:
        """How many access tokens `POST /token` has issued."""
        return self.auth.grants

    # ------------------------------------------------------------------ one request
    def serve(self, method: str, raw_path: str, raw_query: str, headers: dict[str, str], raw_body: bytes) -> Reply:
        path = unquote(raw_path)
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        if path.startswith(ADMIN_PREFIX):
            refusal = admin_refusal(method, headers, raw_body, loopback=self.loopback)
            if refusal is not None:
                return refusal.reply()
            return self.admin.serve(method, path[len(ADMIN_PREFIX):], raw_body)
        wall = time.time()
        if path == TOKEN_PATH:      # not an API call: counted (GET /__emulator__/tokens), never logged
            return self.serve_token(method, raw_body, wall)
        if is_storage_path(raw_path):
            reply, note = self.serve_storage(method, raw_path, path, pairs, headers, raw_body)
        else:
            reply, note = self.serve_api(method, path, pairs, headers, raw_body)
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000.0)
        entry: dict[str, Any] = {"method": method, "path": path, "query": redact_query(raw_query),
                                 "status": reply.status, "time": rfc3339(wall)}
        if note:
            entry["fault"] = note
        if reply.drop:
            entry["dropped"] = True
        if self.record_bodies and reply.is_json:         # media and empty bodies are not recorded
            entry["response"] = redact_body(reply.body)
        self.service.record(entry)
        return reply

    def serve_api(self, method: str, path: str, pairs: list[tuple[str, str]], headers: dict[str, str],
                  raw_body: bytes) -> tuple[Reply, str]:
        """One tuning API call -> (reply, the faults applied to it, comma-separated)."""
        def serve() -> Reply:
            request, api = route(self.apis, method, path, pairs, headers, raw_body, self.auth,
                                 self.service.clock.now())
            with self.service.transaction() as now:
                return Reply(200, api.dispatch(request, now))

        return guarded(self.quota, self.service.faults, method, path, serve, lambda err: err.reply(),
                       lambda err: RpcError("INTERNAL", f"Internal error in the emulator: {err!r}").reply())

    def serve_token(self, method: str, raw_body: bytes, wall: float) -> Reply:
        """The OAuth 2 token endpoint (`auth.py`): never faulted, throttled or logged (its grants are counted)."""
        if method != "POST":
            return Reply(405, {"error": "invalid_request", "error_description": "Use POST."})
        return self.auth.grant(raw_body, self.service.clock.now(), wall)

    def serve_storage(self, method: str, raw_path: str, path: str, pairs: list[tuple[str, str]],
                      headers: dict[str, str], raw_body: bytes) -> tuple[Reply, str]:
        """One Cloud Storage call (routed on the raw path: an object name is one %2F-encoded segment; faults
        match the decoded `path`, as for the tuning APIs) -> (reply in the JSON API v1 envelope, faults)."""
        return guarded(self.quota, self.service.faults, method, path,
                       lambda: self.service.storage.serve(method, raw_path, pairs, headers, raw_body,
                                                          self.service.transaction),
                       lambda err: from_rpc(err).reply(), lambda err: storage_internal(err).reply())


# ---------------------------------------------------------------------------------------------- one call
def guarded(quota: Quota | None, faults: Faults, method: str, path: str, serve: Callable[[], Reply],
            refused: Callable[[RpcError], Reply], bug: Callable[[Exception], Reply]) -> tuple[Reply, str]:
    """Quota and faults, then `serve`; an API error answered by `refused` and a bug by `bug`, each in its API's
    envelope (a bug is printed to stderr too) -> (reply, the faults applied, comma-separated)."""
    notes: list[str] = []
    drop = False
    try:
        effects = before_call(quota, faults, method, path, notes)
        drop = effects.drop
        if effects.error is not None:
            raise effects.error
        reply = serve()
    except RpcError as err:
        reply = refused(err)
    except Exception as err:  # noqa: BLE001 - a bug must still answer, in its API's envelope
        traceback.print_exc(file=sys.stderr)
        reply = bug(err)
    reply.drop = drop
    return reply, ",".join(notes)


def before_call(quota: Quota | None, faults: Faults, method: str, path: str, notes: list[str]) -> Effects:
    """Quota (raises its refusal), then the fault rules (their latency slept here): the effects left to the
    caller (an injected error, "commit then drop"). What was applied is appended to `notes`."""
    if quota is not None:
        refusal = quota.take(path)
        if refusal is not None:
            notes.append("quota")
            raise refusal
    effects = faults.apply(method, path)
    notes += effects.applied
    if effects.latency_ms:
        time.sleep(effects.latency_ms / 1000.0)
    return effects


def route(apis: tuple[Api, ...], method: str, path: str, pairs: list[tuple[str, str]], headers: dict[str, str],
          raw_body: bytes, auth: Auth | None = None, now: float = 0.0) -> tuple[ApiRequest, Api]:
    """The API a call is for (checking its credentials) and the call itself, its JSON body parsed."""
    segments = [s for s in path.split("/") if s]
    if not segments:
        raise RpcError("NOT_FOUND", f"No API at {path!r}.")
    version, rest = segments[0], segments[1:]
    rest, verb = split_verb(rest)
    api = next((candidate for candidate in apis if candidate.owns(version, rest)), None)
    if api is None:
        raise RpcError("NOT_FOUND", f"No API at {path!r}: Vertex AI lives under /v1/ and /v1beta1/projects/..., "
                                    "the Gemini API under /v1beta/tunedModels.")
    if not api.credentials(headers, pairs):
        raise unauthenticated(api.unauthenticated)
    if auth is not None:
        auth.check(f"{method} /{version}/{'/'.join(rest)}", headers, api.name, now)
    body = None
    if raw_body.strip():
        try:
            body = json.loads(raw_body)
        except ValueError as err:
            raise bad_request([("", f"Invalid JSON payload received. {err}")]) from None
    return ApiRequest(method, rest, version, clean_query(pairs), body, headers, verb), api
