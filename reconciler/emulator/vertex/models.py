"""Vertex AI models: get (`@version`, `@default`, `@-`), list, patch, delete; the Model view of a (model,
version) record pair, with the endpoints it is deployed to. Version methods are in `versions.py`."""

from __future__ import annotations

from typing import Any

from ..clock import rfc3339
from ..listing import compile_filter, fingerprint, order_items, paginate, with_token
from ..rendering import memoized, render_all
from ..routing import NO_QUERY, ApiRequest, check_query
from ..rpc import RpcError, bad_request, invalid, not_found, precondition
from ..schema import MAP, OUT, Violations, coerce, label_problems
from ..store import Store
from .common import EMPTY_TYPE, LIST_DEFAULT, LIST_MAX, ORDER_KEYS, Q_RESOURCE_LIST, location, resource
from .endpoints import Endpoints
from .operations import Operations

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
UPDATABLE = {"displayName", "description", "labels", "versionDescription"}
FILTER_FIELDS = {"model": "model", "display_name": "display_name", "displayName": "display_name",
                 "base_model_name": "base_model_name", "baseModelName": "base_model_name"}
ORDER_BY = {key: (lambda item, field=field: item[0][field]) for key, field in ORDER_KEYS.items()}
Item = tuple[dict[str, Any], str]               # (model record, version id): what model lists are made of


class Models:
    def __init__(self, store: Store, operations: Operations, endpoints: Endpoints) -> None:
        self.store = store
        self.operations = operations
        self.endpoints = endpoints

    def resolve(self, name: str) -> Item:
        """Resolve `.../models/ID`, `ID@VERSION`, `ID@default` or `ID@-` to (model record, version id)."""
        base, _, suffix = name.partition("@")
        model = self.store["models"].get(base)
        if model is None or not model["versions"]:
            raise not_found("Model", name)
        if suffix in ("", "-", "default"):
            return model, default_version(model)
        if suffix not in model["versions"]:
            raise not_found("Model", name)
        return model, suffix

    def view(self, model: dict[str, Any], version_id: str) -> dict[str, Any]:
        refs = []
        for endpoint, deployed in self.endpoints.deployments().get(model["name"], []):
            if deployed.get("modelVersionId") == version_id:
                ref = {"endpoint": endpoint, "deployedModelId": deployed["id"]}
                if deployed.get("checkpointId"):
                    ref["checkpointId"] = deployed["checkpointId"]
                refs.append(ref)
        return _view(model, version_id, refs)

    # ------------------------------------------------------------------ routes
    def get(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        return self.view(*self.resolve(resource(request, "models", "model")))

    def list(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, Q_RESOURCE_LIST)
        parent = location(request)
        prefix = parent + "/models/"
        items = memoized(self.store.memo(), ("models", prefix),
                         lambda: [(m, default_version(m)) for n, m in self.store["models"].items()
                                  if n.startswith(prefix) and m["versions"]])
        # readMask is accepted and ignored: full resources are always returned.
        return self.page(request, items, FILTER_FIELDS, ORDER_BY, ("models", parent))

    def patch(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, frozenset({"updateMask"}))
        name = resource(request, "models", "model")
        paths, body = _patch_request(request)
        model, version_id = self.resolve(name)
        targets_version = name.partition("@")[2] not in ("", "-")
        _check_patch(paths, body, targets_version)
        if body.get("etag") and body["etag"] != self.view(model, version_id)["etag"]:
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
        return self.view(model, version_id)

    def delete(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        name = resource(request, "models", "model")
        if "@" in name:
            raise invalid("name", "models.delete takes a model name without a version; use :deleteVersion.")
        model, _ = self.resolve(name)
        deployed = self.endpoints.deployments().get(model["name"], [])
        if deployed:
            endpoints = sorted({endpoint for endpoint, _ in deployed})
            raise precondition(f"Model {model['name']} is deployed to endpoint(s) {', '.join(endpoints)}; "
                               "undeploy it from every endpoint before deleting it.")
        refuse_while_releasing(model, now)
        del self.store["models"][model["name"]]
        self.store.changed()
        return self.operations.create(model["name"], "DeleteOperationMetadata", EMPTY_TYPE, now)

    # ------------------------------------------------------------------ out-of-band (admin) mutations
    def admin_delete(self, name: str) -> None:
        """Bypasses the deployed-model checks; `model@N` removes that version unless it is the last one."""
        model, version_id = self.resolve(name)
        if "@" in name and len(model["versions"]) > 1:
            del model["versions"][version_id]
        else:
            del self.store["models"][model["name"]]

    def admin_patch(self, name: str, fields: dict[str, Any], stamp: str) -> None:
        model, version_id = self.resolve(name)
        version = model["versions"][version_id]
        if "@" in name and "labels" in fields:      # version labels, as models.patch on model@N does
            version["labels"] = fields.pop("labels")
            version["updateTime"], version["etagSeq"] = stamp, version["etagSeq"] + 1
        model["updateTime"] = stamp
        model["etagSeq"] = model.get("etagSeq", 0) + 1
        model.update(fields)

    def page(self, request: ApiRequest, items: list[Item], fields: dict[str, str], order: dict[str, Any],
              key: tuple[str, str]) -> dict[str, Any]:
        """Filter, order and page (model, version) items into a list response of model views. `key` names the
        listing (its items are a function of the state): the selection and the views are kept in the memo."""
        predicate = compile_filter(request.query.get("filter"), fields, _field)
        filter_text, order_by = request.query.get("filter", ""), request.query.get("orderBy", "")

        def select() -> list[Item]:
            selected = [item for item in items if predicate(item)] if predicate else items
            return order_items(selected, order_by, order)
        memo = self.store.memo()
        items = memoized(memo, ("models selection", *key, filter_text, order_by), select)
        request_key = fingerprint(*key, filter_text, order_by)
        page, token = paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX, request_key=request_key)
        models = render_all(memo, page, lambda item: ("model", item[0]["name"], item[1]), lambda item: self.view(*item))
        return with_token({"models": models} if page else {}, token)


def refuse_while_releasing(model: dict[str, Any], now: float) -> None:
    """A model whose last undeploy finished moments ago is still held by the serving stack (operations.py)."""
    if now < model.get("releasedAt", 0.0):
        raise precondition(f"The model {model['name']} cannot be deleted yet: it was undeployed from an endpoint "
                           "moments ago and its resources are still being released. Retry later.")


def default_version(model: dict[str, Any]) -> str:
    # The `default` alias: the emulator keeps it on the newest version (a tune sets its new
    # version as default); the reference does not say how a continuous-tuning run moves it.
    versions = model["versions"]
    return next(iter(versions)) if len(versions) == 1 else max(versions, key=int)   # one version: most models


def _view(model: dict[str, Any], version_id: str, deployed: list[dict[str, str]]) -> dict[str, Any]:
    version = model["versions"][version_id]
    view: dict[str, Any] = {"name": model["name"], "versionId": version_id}
    if version_id == default_version(model):
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
    if deployed:
        view["deployedModels"] = deployed
    if version.get("checkpoints"):
        view["checkpoints"] = version["checkpoints"]
        view["defaultCheckpointId"] = version["defaultCheckpointId"]
    if version.get("encryptionSpec"):
        view["encryptionSpec"] = version["encryptionSpec"]
    return view


def _field(item: Item, field: str) -> Any:
    model, version_id = item
    if field == "labels":
        return {**model.get("labels", {}), **model["versions"][version_id].get("labels", {})}
    if field == "model":
        return model["name"].rsplit("/", 1)[1]
    if field == "display_name":
        return model["displayName"]
    return model["versions"][version_id]["baseModel"].rsplit("/", 1)[-1]


def _patch_request(request: ApiRequest) -> tuple[list[str], dict[str, Any]]:
    """(update mask paths, coerced body) of models.patch, or its 400."""
    if not request.query.get("updateMask", "").strip():
        raise invalid("update_mask", "update_mask is required.")
    paths = request.update_mask()
    bad = [path for path in paths if path not in UPDATABLE]
    if bad:
        raise invalid("update_mask", f"Unsupported update_mask path {bad[0]!r}; updatable: "
                                     "display_name, description, labels, version_description.")
    errors = Violations()
    body = coerce(MODEL_PATCH_SPEC, request.object_body(), "model", errors)
    if errors:
        raise bad_request(errors)
    return paths, body


def _check_patch(paths: list[str], body: dict[str, Any], targets_version: bool) -> None:
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
