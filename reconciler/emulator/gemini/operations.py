"""Gemini API operations of a tuned model: the create operation, whose CreateTunedModelMetadata reports the
tuning's progress; list and get (v1 and v1beta) and cancel (v1 only)."""

from __future__ import annotations

from typing import Any

from ..listing import fingerprint, paginate, with_token
from ..routing import NO_QUERY, ApiRequest, check_query, no_route
from ..rpc import not_found, status
from ..store import Store
from .common import LIST_DEFAULT, LIST_MAX, TYPE, model_name
from .lifecycle import find, progress, settle, state, view

Q_LIST = frozenset({"filter", "pageSize", "pageToken"})


class Operations:
    def __init__(self, store: Store) -> None:
        self.store = store

    def register(self, name: str, model: str) -> dict[str, Any]:
        """Record the create operation `name` of tuned model `model`."""
        operation = {"seq": self.store.next_seq(), "model": model, "frozen": None}
        self.store["geminiOperations"][name] = operation
        return operation

    def view(self, operation: dict[str, Any], now: float) -> dict[str, Any]:
        if operation.get("frozen"):
            return operation["frozen"]
        record = self.store["tunedModels"][operation["model"]]
        done, snapshots = progress(record, now)
        total = record["totalSteps"]
        metadata: dict[str, Any] = {"@type": TYPE + "CreateTunedModelMetadata", "tunedModel": operation["model"],
                                    "totalSteps": total}
        if done:
            metadata["completedSteps"] = done
            metadata["completedPercent"] = round(100.0 * done / total, 2)
        if snapshots:
            metadata["snapshots"] = snapshots
        result: dict[str, Any] = {"name": record["operation"], "metadata": metadata}
        current, _ = state(record, now)
        if current == "ACTIVE":
            result["done"] = True
            result["response"] = {"@type": TYPE + "TunedModel", **view(record, now)}
        elif current == "FAILED":
            result["done"] = True
            result["error"] = record["failError"]
        return result

    def freeze(self, record: dict[str, Any], now: float) -> None:
        """Keep the create operation readable after its model is gone (a CREATING tune ends CANCELLED)."""
        operation = self.store["geminiOperations"].get(record["operation"])
        if operation is None:
            return
        frozen = self.view(operation, now)
        if not frozen.get("done"):
            frozen["done"] = True
            frozen["error"] = status("CANCELLED", "Tuning was stopped because the tuned model was deleted.")
        operation["frozen"] = frozen

    # ------------------------------------------------------------------ routes
    def list(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, Q_LIST)
        model = model_name(request)
        prefix = model + "/operations/"
        items = [op for key, op in self.store["geminiOperations"].items() if key.startswith(prefix)]
        if not items:
            find(self.store, model)
        page, token = paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                               request_key=fingerprint("operations", model))
        return with_token({"operations": [self.view(op, now) for op in page]} if page else {}, token)

    def get(self, request: ApiRequest, now: float) -> dict[str, Any]:
        return self.view(self._checked(request), now)

    def cancel(self, request: ApiRequest, now: float) -> dict[str, Any]:
        """google.longrunning cancel (v1 surface): a running tune stops and the model ends FAILED."""
        operation = self._checked(request)
        record = self.store["tunedModels"].get(operation["model"])
        if record is not None and state(record, now)[0] == "CREATING":
            record["failAt"] = now
            record["failError"] = status("CANCELLED", "Operation cancelled by the caller.")
            settle(self.store, now)
            self.store.changed()
        return {}

    def unmatched(self, request: ApiRequest, now: float) -> Any:
        """Any other method on one operation: the operation must exist and the query is checked first."""
        self._checked(request)
        raise no_route(request)

    def _checked(self, request: ApiRequest) -> dict[str, Any]:
        name = f"{model_name(request)}/operations/{request.params['operation']}"
        operation = self.store["geminiOperations"].get(name)
        if operation is None:
            raise not_found("Operation", name)
        check_query(request.query, NO_QUERY)
        return operation
