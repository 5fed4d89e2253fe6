"""Vertex AI models (versions, patch, delete, deleteVersion) and endpoints (list, undeployModel, delete), with
the deployed-model checks that make delete ordering matter."""

from __future__ import annotations

from typing import Any

from . import listing
from .clock import rfc3339
from .routing import ApiRequest, check_query
from .rpc import RpcError, bad_request, invalid, not_found, precondition
from .schema import ANY, MAP, OUT, Violations, camel, coerce, label_problems
from .store import Store
from .vertex_operations import EMPTY_TYPE, LIST_DEFAULT, LIST_MAX, TYPE

# Every Model field of the discovery document: a PATCH body may carry any of them; only the masked,
# mutable ones are applied.
_MODEL_FIELDS = ("artifactUri baseModelSource checkpoints containerSpec createTime dataStats defaultCheckpointId "
                 "deployedModels description displayName encryptionSpec etag explanationSpec labels metadata "
                 "metadataArtifact metadataSchemaUri modelSourceInfo name originalModelInfo pipelineJob "
                 "predictSchemata satisfiesPzi satisfiesPzs supportedDeploymentResourcesTypes "
                 "supportedExportFormats supportedInputStorageFormats supportedOutputStorageFormats "
                 "trainingPipeline updateTime versionAliases versionCreateTime versionDescription versionId "
                 "versionUpdateTime").split()
MODEL_PATCH_SPEC: dict[str, Any] = {**{name: OUT for name in _MODEL_FIELDS}, "displayName": "string",
                                    "description": "string", "labels": MAP, "versionDescription": "string",
                                    "etag": "string"}
UNDEPLOY_SPEC = {"deployedModelId": "string", "trafficSplit": ANY}
Q_MODEL_LIST = frozenset({"filter", "pageSize", "pageToken", "orderBy", "readMask"})


class ModelsAndEndpoints:
    store: Store
    _index_key: tuple[int, int] | None
    _index: dict[str, list[tuple[str, dict[str, Any]]]]

    def model_version(self, name: str) -> tuple[dict[str, Any], str]:
        """Resolve `.../models/ID`, `ID@VERSION`, `ID@default` or `ID@-` to (model record, version id)."""
        base, _, suffix = name.partition("@")
        model = self.store["models"].get(base)
        if model is None or not model["versions"]:
            raise not_found("Model", name)
        if suffix in ("", "-", "default"):
            return model, self.default_version(model)
        if suffix not in model["versions"]:
            raise not_found("Model", name)
        return model, suffix

    @staticmethod
    def default_version(model: dict[str, Any]) -> str:
        # The `default` alias: the emulator keeps it on the newest version (a tune sets its new
        # version as default); the reference does not say how a continuous-tuning run moves it.
        return max(model["versions"], key=int)

    def deployments(self) -> dict[str, list[tuple[str, dict[str, Any]]]]:
        """model name (no version) -> [(endpoint name, DeployedModel)], rebuilt only after mutations."""
        key = (self.store.generation, id(self.store.state))
        if self._index_key != key:
            index: dict[str, list[tuple[str, dict[str, Any]]]] = {}
            for endpoint in self.store["endpoints"].values():
                for deployed in endpoint["deployedModels"]:
                    index.setdefault(deployed["model"].split("@")[0], []).append((endpoint["name"], deployed))
            self._index, self._index_key = index, key
        return self._index

    def model_view(self, model: dict[str, Any], version_id: str) -> dict[str, Any]:
        version = model["versions"][version_id]
        view: dict[str, Any] = {"name": model["name"], "versionId": version_id}
        if version_id == self.default_version(model):
            view["versionAliases"] = ["default"]
        view["versionCreateTime"] = version["createTime"]
        view["versionUpdateTime"] = version["updateTime"]
        if version.get("description"):
            view["versionDescription"] = version["description"]
        view["displayName"] = model["displayName"]
        if model.get("description"):
            view["description"] = model["description"]
        labels = {**model.get("labels", {}), **version.get("labels", {})}
        if labels:
            view["labels"] = labels
        view["etag"] = f"\"{model['seq']}-{version_id}-{version['etagSeq']}-{model.get('etagSeq', 0)}\""
        view["createTime"] = model["createTime"]
        view["updateTime"] = max(model["updateTime"], version["updateTime"])
        refs = []
        for endpoint, deployed in self.deployments().get(model["name"], []):
            if deployed.get("modelVersionId") == version_id:
                ref = {"endpoint": endpoint, "deployedModelId": deployed["id"]}
                if deployed.get("checkpointId"):
                    ref["checkpointId"] = deployed["checkpointId"]
                refs.append(ref)
        if refs:
            view["deployedModels"] = refs
        if version.get("checkpoints"):
            view["checkpoints"] = version["checkpoints"]
            view["defaultCheckpointId"] = version["defaultCheckpointId"]
        if version.get("encryptionSpec"):
            view["encryptionSpec"] = version["encryptionSpec"]
        return view

    _MODEL_FIELDS = {"model": "model", "display_name": "display_name", "displayName": "display_name",
                     "base_model_name": "base_model_name", "baseModelName": "base_model_name"}

    def _model_resolver(self, item: tuple[dict[str, Any], str], field: str) -> Any:
        model, version_id = item
        if field == "labels":
            return {**model.get("labels", {}), **model["versions"][version_id].get("labels", {})}
        if field == "model":
            return model["name"].rsplit("/", 1)[1]
        if field == "display_name":
            return model["displayName"]
        return model["versions"][version_id]["baseModel"].rsplit("/", 1)[-1]

    def list_models(self, request: ApiRequest, parent: str) -> dict[str, Any]:
        check_query(request.query, Q_MODEL_LIST)
        prefix = parent + "/models/"
        items = [(m, self.default_version(m)) for n, m in self.store["models"].items()
                 if n.startswith(prefix) and m["versions"]]
        predicate = listing.compile_filter(request.query.get("filter"), self._MODEL_FIELDS, self._model_resolver)
        if predicate:
            items = [item for item in items if predicate(item)]
        items = listing.order_items(items, request.query.get("orderBy"), {
            "display_name": lambda i: i[0]["displayName"], "displayName": lambda i: i[0]["displayName"],
            "create_time": lambda i: i[0]["createTime"], "createTime": lambda i: i[0]["createTime"],
            "update_time": lambda i: i[0]["updateTime"], "updateTime": lambda i: i[0]["updateTime"]})
        # readMask is accepted and ignored: full resources are always returned.
        key = listing.fingerprint("models", parent, request.query.get("filter", ""), request.query.get("orderBy", ""))
        page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX, request_key=key)
        return listing.with_token({"models": [self.model_view(m, v) for m, v in page]} if page else {}, token)

    def list_versions(self, request: ApiRequest, name: str) -> dict[str, Any]:
        check_query(request.query, Q_MODEL_LIST)
        model, _ = self.model_version(name.split("@")[0])
        items = [(model, v) for v in sorted(model["versions"], key=int)]
        predicate = listing.compile_filter(request.query.get("filter"), {}, self._model_resolver)  # labels only
        if predicate:
            items = [item for item in items if predicate(item)]
        version_of = lambda item: item[0]["versions"][item[1]]  # noqa: E731
        items = listing.order_items(items, request.query.get("orderBy"), {
            "create_time": lambda i: version_of(i)["createTime"], "createTime": lambda i: version_of(i)["createTime"],
            "update_time": lambda i: version_of(i)["updateTime"], "updateTime": lambda i: version_of(i)["updateTime"]})
        key = listing.fingerprint("versions", model["name"], request.query.get("filter", ""),
                                  request.query.get("orderBy", ""))
        page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX, request_key=key)
        return listing.with_token({"models": [self.model_view(m, v) for m, v in page]} if page else {}, token)

    def patch_model(self, request: ApiRequest, name: str, now: float) -> dict[str, Any]:
        mask_text = request.query.get("updateMask", "")
        if not mask_text.strip():
            raise invalid("update_mask", "update_mask is required.")
        paths = [camel(path.strip()) for path in mask_text.split(",") if path.strip()]
        allowed = {"displayName", "description", "labels", "versionDescription"}
        bad = [path for path in paths if path not in allowed]
        if bad:
            raise invalid("update_mask", f"Unsupported update_mask path {bad[0]!r}; updatable: "
                                         "display_name, description, labels, version_description.")
        errors = Violations()
        body = coerce(MODEL_PATCH_SPEC, request.object_body(), "model", errors)
        if errors:
            raise bad_request(errors)
        model, version_id = self.model_version(name)
        suffix = name.partition("@")[2]
        targets_version = suffix not in ("", "-")
        model_fields = {"displayName", "description"} & set(paths)
        if model_fields and "versionDescription" in paths:
            raise precondition("One request cannot update both model fields and version fields.")
        if targets_version and model_fields:
            raise precondition(f"{sorted(model_fields)[0]} is a model field; use the model name without "
                               "a version (or with @-) to update it.")
        if not targets_version and "versionDescription" in paths:
            raise precondition("version_description is a version field; name a version (model@N) to update it.")
        problems: list[tuple[str, str]] = []
        if "displayName" in paths and not (0 < len(body.get("displayName", "")) <= 128):
            problems.append(("model.display_name", "display_name is required and at most 128 characters."))
        if "labels" in paths:
            problems += label_problems(body.get("labels", {}), "model.labels")
        if problems:
            raise bad_request(problems)
        if body.get("etag") and body["etag"] != self.model_view(model, version_id)["etag"]:
            raise RpcError("ABORTED", "The etag does not match the current model; read it again and retry.")
        version = model["versions"][version_id]
        stamp = rfc3339(now)
        for path in paths:
            if path == "labels":
                (version if targets_version else model)["labels"] = body.get("labels", {})
            elif path == "versionDescription":
                version["description"] = body.get("versionDescription", "")
            else:
                model[path] = body.get(path, "")
        if targets_version:
            version["updateTime"], version["etagSeq"] = stamp, version["etagSeq"] + 1
        else:
            model["updateTime"], model["etagSeq"] = stamp, model.get("etagSeq", 0) + 1
        self.store.changed()
        return self.model_view(model, version_id)

    def delete_model(self, name: str, now: float) -> dict[str, Any]:
        if "@" in name:
            raise invalid("name", "models.delete takes a model name without a version; use :deleteVersion.")
        model, _ = self.model_version(name)
        deployed = self.deployments().get(model["name"], [])
        if deployed:
            endpoints = sorted({endpoint for endpoint, _ in deployed})
            raise precondition(f"Model {model['name']} is deployed to endpoint(s) {', '.join(endpoints)}; "
                               "undeploy it from every endpoint before deleting it.")
        del self.store["models"][model["name"]]
        self.store.changed()
        return self.operation(model["name"], "DeleteOperationMetadata", EMPTY_TYPE, now)

    def delete_version(self, name: str, now: float) -> dict[str, Any]:
        if "@" not in name:
            raise invalid("name", "models.deleteVersion needs a versioned name: models/{model}@{version}.")
        model, version_id = self.model_version(name)
        if len(model["versions"]) == 1:
            raise precondition(f"Version {version_id} is the only version of {model['name']}; "
                               "delete the model instead.")
        used = [endpoint for endpoint, deployed in self.deployments().get(model["name"], [])
                if deployed.get("modelVersionId") == version_id]
        if used:
            raise precondition(f"Version {version_id} of {model['name']} is deployed to endpoint(s) "
                               f"{', '.join(sorted(set(used)))}; undeploy it first.")
        del model["versions"][version_id]
        model["updateTime"] = rfc3339(now)
        self.store.changed()
        return self.operation(model["name"], "DeleteOperationMetadata", EMPTY_TYPE, now)

    def endpoint(self, name: str) -> dict[str, Any]:
        return self.store.require("endpoints", name, "Endpoint")

    @staticmethod
    def endpoint_view(record: dict[str, Any]) -> dict[str, Any]:
        view = {key: record[key] for key in ("name", "displayName") }
        if record.get("description"):
            view["description"] = record["description"]
        if record.get("labels"):
            view["labels"] = record["labels"]
        view["etag"] = f"\"{record['seq']}-{record['etagSeq']}\""
        view["createTime"], view["updateTime"] = record["createTime"], record["updateTime"]
        if record["deployedModels"]:
            view["deployedModels"] = record["deployedModels"]
        if record["trafficSplit"]:
            view["trafficSplit"] = record["trafficSplit"]
        if record.get("encryptionSpec"):
            view["encryptionSpec"] = record["encryptionSpec"]
        return view

    def list_endpoints(self, request: ApiRequest, parent: str) -> dict[str, Any]:
        check_query(request.query, Q_MODEL_LIST)
        prefix = parent + "/endpoints/"
        fields = {"endpoint": "endpoint", "display_name": "display_name", "displayName": "display_name",
                  "base_model_name": "base_model_name", "baseModelName": "base_model_name"}

        def resolve(record: dict[str, Any], field: str) -> Any:
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

        items = [r for n, r in self.store["endpoints"].items() if n.startswith(prefix)]
        predicate = listing.compile_filter(request.query.get("filter"), fields, resolve)
        if predicate:
            items = [r for r in items if predicate(r)]
        items = listing.order_items(items, request.query.get("orderBy"), {
            "display_name": lambda r: r["displayName"], "displayName": lambda r: r["displayName"],
            "create_time": lambda r: r["createTime"], "createTime": lambda r: r["createTime"],
            "update_time": lambda r: r["updateTime"], "updateTime": lambda r: r["updateTime"]})
        key = listing.fingerprint("endpoints", parent, request.query.get("filter", ""),
                                  request.query.get("orderBy", ""))
        page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX, request_key=key)
        return listing.with_token({"endpoints": [self.endpoint_view(r) for r in page]} if page else {}, token)

    def undeploy(self, request: ApiRequest, name: str, now: float) -> dict[str, Any]:
        errors = Violations()
        body = coerce(UNDEPLOY_SPEC, request.object_body(), "", errors)
        if errors:
            raise bad_request(errors)
        if not body.get("deployedModelId"):
            raise invalid("deployed_model_id", "deployed_model_id is required.")
        record = self.endpoint(name)
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
        record["deployedModels"] = remaining
        record["updateTime"], record["etagSeq"] = rfc3339(now), record["etagSeq"] + 1
        self.store.changed()
        return self.operation(name, "UndeployModelOperationMetadata", TYPE + "UndeployModelResponse", now)

    def delete_endpoint(self, name: str, now: float) -> dict[str, Any]:
        record = self.endpoint(name)
        if record["deployedModels"]:
            ids = ", ".join(d["id"] for d in record["deployedModels"])
            raise precondition(f"Endpoint {name} still has deployed models ({ids}); undeploy them first.")
        del self.store["endpoints"][name]
        self.store.changed()
        return self.operation(name, "DeleteOperationMetadata", EMPTY_TYPE, now)

    def admin_delete(self, name: str) -> bool:
        if "/models/" in name:
            model, version_id = self.model_version(name)
            if "@" in name and len(model["versions"]) > 1:
                del model["versions"][version_id]
            else:
                del self.store["models"][model["name"]]
        elif "/endpoints/" in name:
            self.endpoint(name)
            del self.store["endpoints"][name]
        else:
            return False
        self.store.changed()
        return True

    def admin_patch(self, name: str, fields: dict[str, Any], now: float) -> bool:
        stamp = rfc3339(now)
        if "/tuningJobs/" in name:
            target = self.job(name)["job"]     # labels and description only; no updateTime on jobs
        elif "/models/" in name:
            model, version_id = self.model_version(name)
            version = model["versions"][version_id]
            if "@" in name and "labels" in fields:      # version labels, as models.patch on model@N does
                version["labels"] = fields.pop("labels")
                version["updateTime"], version["etagSeq"] = stamp, version["etagSeq"] + 1
            target = model
            target["updateTime"] = stamp
            target["etagSeq"] = target.get("etagSeq", 0) + 1
        elif "/endpoints/" in name:
            target = self.endpoint(name)
            target["updateTime"], target["etagSeq"] = stamp, target["etagSeq"] + 1
        else:
            return False
        for key, value in fields.items():
            if "/tuningJobs/" in name and key == "displayName":
                key = "tunedModelDisplayName"
            target[key] = value
        self.store.changed()
        return True
