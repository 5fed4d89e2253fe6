"""Vertex AI endpoints: get, list, undeployModel, delete; the endpoints a successful tuning job deploys its
model to; and the index of deployed models that makes model delete ordering matter."""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from ..clock import rfc3339
from ..listing import compile_filter, fingerprint, order_items, paginate, with_token
from ..names import numeric_id
from ..rendering import memoized, render_all
from ..routing import NO_QUERY, ApiRequest, check_query, no_route
from ..rpc import bad_request, invalid, not_found, precondition
from ..schema import ANY, Violations, coerce
from ..store import Store
from .common import EMPTY_TYPE, LIST_DEFAULT, LIST_MAX, ORDER_KEYS, Q_RESOURCE_LIST, TYPE, location, resource
from .operations import Operations

UNDEPLOY_SPEC = {"deployedModelId": "string", "trafficSplit": ANY}
FILTER_FIELDS = {"endpoint": "endpoint", "display_name": "display_name", "displayName": "display_name",
                 "base_model_name": "base_model_name", "baseModelName": "base_model_name"}
ORDER_BY = {key: itemgetter(field) for key, field in ORDER_KEYS.items()}
Deployments = dict[str, list[tuple[str, dict[str, Any]]]]   # model (no version) -> [(endpoint, DeployedModel)]


class Endpoints:
    def __init__(self, store: Store, operations: Operations) -> None:
        self.store = store
        self.operations = operations
        self._index_key: tuple[int, int] | None = None  # (store generation, state id)
        self._index: Deployments = {}

    def require(self, name: str) -> dict[str, Any]:
        return self.store.require("endpoints", name, "Endpoint")

    def deployments(self) -> Deployments:
        """model name (no version) -> [(endpoint name, DeployedModel)], rebuilt only after mutations."""
        key = (self.store.generation, id(self.store.state))
        if self._index_key != key:
            index: Deployments = {}
            for endpoint in self.store["endpoints"].values():
                for deployed in endpoint["deployedModels"]:
                    index.setdefault(deployed["model"].split("@")[0], []).append((endpoint["name"], deployed))
            self._index, self._index_key = index, key
        return self._index

    def create(self, prefix: str, display: str, labels: dict[str, str], job: dict[str, Any], model: str,
               version_id: str, checkpoint: str | None, when: float) -> str:
        """An endpoint with `model` (a version, at `checkpoint`) deployed, as a finished tuning job leaves it."""
        endpoints = self.store["endpoints"]
        # Endpoint IDs starting with a digit are at most 9 digits without a leading zero (reference).
        name = f"{prefix}/endpoints/{numeric_id(9, {n.rsplit('/', 1)[1] for n in endpoints})}"
        stamp = rfc3339(when)
        deployed: dict[str, Any] = {"id": numeric_id(10), "model": model, "modelVersionId": version_id,
                                    "displayName": display[:128], "createTime": stamp}
        if checkpoint:
            deployed["checkpointId"] = checkpoint
        record: dict[str, Any] = {"name": name, "seq": self.store.next_seq(), "displayName": display[:128],
                                  "labels": dict(labels), "createTime": stamp, "updateTime": stamp,
                                  "deployedModels": [deployed], "trafficSplit": {deployed["id"]: 100}, "etagSeq": 0}
        if "encryptionSpec" in job:
            record["encryptionSpec"] = job["encryptionSpec"]
        endpoints[name] = record
        return name

    # ------------------------------------------------------------------ routes
    def list(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, Q_RESOURCE_LIST)
        parent = location(request)
        prefix = parent + "/endpoints/"
        predicate = compile_filter(request.query.get("filter"), FILTER_FIELDS, self._field)
        filter_text, order_by = request.query.get("filter", ""), request.query.get("orderBy", "")

        def select() -> list[dict[str, Any]]:     # a function of the state alone: kept until it changes
            items = [r for n, r in self.store["endpoints"].items() if n.startswith(prefix)]
            return order_items([r for r in items if predicate(r)] if predicate else items, order_by, ORDER_BY)
        memo = self.store.memo()
        items = memoized(memo, ("endpoints selection", prefix, filter_text, order_by), select)
        key = fingerprint("endpoints", parent, filter_text, order_by)
        page, token = paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX, request_key=key)
        endpoints = render_all(memo, page, lambda r: ("endpoint", r["name"]), view)
        return with_token({"endpoints": endpoints} if page else {}, token)

    def get(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        return view(self.require(resource(request, "endpoints", "endpoint")))

    def undeploy(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        name = resource(request, "endpoints", "endpoint")
        errors = Violations()
        body = coerce(UNDEPLOY_SPEC, request.object_body(), "", errors)
        if errors:
            raise bad_request(errors)
        if not body.get("deployedModelId"):
            raise invalid("deployed_model_id", "deployed_model_id is required.")
        record = self.require(name)
        remaining = [d for d in record["deployedModels"] if d["id"] != body["deployedModelId"]]
        if len(remaining) == len(record["deployedModels"]):
            raise not_found("DeployedModel", f"{name} deployedModels/{body['deployedModelId']}")
        split = body.get("trafficSplit")
        if split is not None:
            if set(split) - {d["id"] for d in remaining} or (split and sum(split.values()) != 100):
                raise invalid("traffic_split", "traffic_split must name remaining deployed models and sum to 100.")
            record["trafficSplit"] = {k: int(v) for k, v in split.items()}
        else:
            # Not specified by the reference: remaining deployed models keep their share, and when the
            # undeployed model carried traffic the first remaining one takes all of it.
            record["trafficSplit"] = ({remaining[0]["id"]: 100} if remaining else {})
        for gone in record["deployedModels"]:
            if gone["id"] == body["deployedModelId"]:   # its model stays undeletable for a while (operations.py)
                model = self.store["models"].get(gone["model"].split("@")[0])
                if model is not None and self.operations.duration > 0:
                    model["releasedAt"] = max(model.get("releasedAt", 0.0), self.operations.release_at(now))
        record["deployedModels"] = remaining
        record["updateTime"], record["etagSeq"] = rfc3339(now), record["etagSeq"] + 1
        self.store.changed()
        return self.operations.create(name, "UndeployModelOperationMetadata", TYPE + "UndeployModelResponse", now)

    def delete(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        name = resource(request, "endpoints", "endpoint")
        record = self.require(name)
        if record["deployedModels"]:
            ids = ", ".join(d["id"] for d in record["deployedModels"])
            raise precondition(f"Endpoint {name} still has deployed models ({ids}); undeploy them first.")
        del self.store["endpoints"][name]
        self.store.changed()
        return self.operations.create(name, "DeleteOperationMetadata", EMPTY_TYPE, now)

    def unmatched(self, request: ApiRequest, now: float) -> Any:
        """Any other method on one endpoint: its query is checked before the 404."""
        check_query(request.query, NO_QUERY)
        raise no_route(request)

    # ------------------------------------------------------------------ out-of-band (admin) mutations
    def admin_delete(self, name: str) -> None:
        self.require(name)
        del self.store["endpoints"][name]

    def admin_patch(self, name: str, fields: dict[str, Any], stamp: str) -> None:
        target = self.require(name)
        target["updateTime"], target["etagSeq"] = stamp, target["etagSeq"] + 1
        target.update(fields)

    def _field(self, record: dict[str, Any], field: str) -> Any:
        if field == "labels":
            return record.get("labels")
        if field == "endpoint":
            return record["name"].rsplit("/", 1)[1]
        if field == "display_name":
            return record["displayName"]
        for deployed in record["deployedModels"]:   # base model of the first deployed model
            model = self.store["models"].get(deployed["model"].split("@")[0])
            version = (model or {}).get("versions", {}).get(deployed.get("modelVersionId", ""))
            if version:
                return version["baseModel"].rsplit("/", 1)[-1]
        return None


def view(record: dict[str, Any]) -> dict[str, Any]:
    result = {key: record[key] for key in ("name", "displayName")}
    if record.get("description"):
        result["description"] = record["description"]
    if record.get("labels"):
        result["labels"] = record["labels"]
    result["etag"] = f"\"{record['seq']}-{record['etagSeq']}\""
    result["createTime"], result["updateTime"] = record["createTime"], record["updateTime"]
    if record["deployedModels"]:
        result["deployedModels"] = record["deployedModels"]
    if record["trafficSplit"]:
        result["trafficSplit"] = record["trafficSplit"]
    if record.get("encryptionSpec"):
        result["encryptionSpec"] = record["encryptionSpec"]
    return result
