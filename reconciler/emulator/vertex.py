"""Vertex AI (aiplatform v1 / v1beta1): routing of tuningJobs, models, endpoints and operations.

State is stored as plain JSON-able records; a job's state is computed lazily from its createTime and the
virtual clock, and `settle()` materialises what a finished job leaves behind (model, endpoints).
"""

from __future__ import annotations

from typing import Any

from . import listing
from .clock import Clock
from .names import project_number
from .routing import ApiRequest, check_query, no_route
from .rpc import RpcError
from .store import Store
from .vertex_jobs import TuningJobs
from .vertex_models import ModelsAndEndpoints
from .vertex_operations import LIST_DEFAULT, LIST_MAX, Operations


class Vertex(TuningJobs, ModelsAndEndpoints, Operations):
    def __init__(self, store: Store, clock: Clock, job_duration: float) -> None:
        self.store = store
        self.clock = clock
        self.job_duration = float(job_duration)
        self._index_key: tuple[int, int] | None = None  # (store generation, state id)
        self._index: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def handle(self, request: ApiRequest, now: float) -> dict[str, Any]:
        segments = request.segments
        if len(segments) < 5 or segments[0] != "projects" or segments[2] != "locations":
            raise no_route(request)
        parent = f"projects/{project_number(segments[1])}/locations/{segments[3]}"
        rest = segments[4:]
        collection = rest[0]
        if collection in ("tuningJobs", "models", "endpoints") and len(rest) >= 3 and rest[2] == "operations":
            return self.operation_call(request, f"{parent}/{rest[0]}/{rest[1]}", rest[3:])
        if collection == "operations":
            return self.operation_call(request, parent, rest[1:])
        if collection == "tuningJobs":
            return self.route_jobs(request, parent, rest, now)
        if collection == "models":
            return self.route_models(request, parent, rest, now)
        if collection == "endpoints":
            return self.route_endpoints(request, parent, rest, now)
        raise no_route(request)

    def route_jobs(self, request: ApiRequest, parent: str, rest: list[str], now: float) -> dict[str, Any]:
        method, verb = request.method, request.verb
        if len(rest) == 1 and verb is None:
            if method == "GET":
                return self.list_jobs(request, parent, now)
            if method == "POST":
                check_query(request.query, frozenset())
                return self.create_job(request, parent, now)
        if len(rest) == 1 and verb == "rebaseTunedModel" and method == "POST":
            raise RpcError("UNIMPLEMENTED", "tuningJobs.rebaseTunedModel is not supported by the emulator.")
        if len(rest) == 2:
            name = f"{parent}/tuningJobs/{rest[1]}"
            check_query(request.query, frozenset())
            if method == "GET" and verb is None:
                return self.job_view(self.job(name), now, request.version)
            if method == "POST" and verb == "cancel":
                return self.cancel_job(request, name, now)
        raise no_route(request)

    def route_models(self, request: ApiRequest, parent: str, rest: list[str], now: float) -> dict[str, Any]:
        method, verb = request.method, request.verb
        if len(rest) == 1 and verb is None and method == "GET":
            return self.list_models(request, parent)
        if len(rest) == 2:
            name = f"{parent}/models/{rest[1]}"
            if verb is None and method == "GET":
                check_query(request.query, frozenset())
                model, version = self.model_version(name)
                return self.model_view(model, version)
            if verb is None and method == "PATCH":
                check_query(request.query, frozenset({"updateMask"}))
                return self.patch_model(request, name, now)
            if verb is None and method == "DELETE":
                check_query(request.query, frozenset())
                return self.delete_model(name, now)
            if verb == "listVersions" and method == "GET":
                return self.list_versions(request, name)
            if verb == "listCheckpoints" and method == "GET":
                check_query(request.query, frozenset({"pageSize", "pageToken"}))
                model, version = self.model_version(name)
                items = model["versions"][version].get("checkpoints", [])
                page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                                               request_key=listing.fingerprint("checkpoints", name))
                return listing.with_token({"checkpoints": page}, token)
            if verb == "deleteVersion" and method == "DELETE":
                check_query(request.query, frozenset())
                return self.delete_version(name, now)
        raise no_route(request)

    def route_endpoints(self, request: ApiRequest, parent: str, rest: list[str], now: float) -> dict[str, Any]:
        method, verb = request.method, request.verb
        if len(rest) == 1 and verb is None and method == "GET":
            return self.list_endpoints(request, parent)
        if len(rest) == 2:
            name = f"{parent}/endpoints/{rest[1]}"
            check_query(request.query, frozenset())
            if verb is None and method == "GET":
                return self.endpoint_view(self.endpoint(name))
            if verb is None and method == "DELETE":
                return self.delete_endpoint(name, now)
            if verb == "undeployModel" and method == "POST":
                return self.undeploy(request, name, now)
        raise no_route(request)
