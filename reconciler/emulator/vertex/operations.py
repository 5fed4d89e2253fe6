"""Vertex AI long-running operations in every nested form (`.../tuningJobs|models|endpoints/X/operations/Y`)
and the flat `.../operations/Y` form: get, :wait, list, :cancel, delete.

Deletes and undeploys take `operation_duration` virtual seconds (`--operation-duration`; 0 when embedded, so that
test suites stay fast): their operations are born `done: false` and are done that long after. What they do to the
resources happens at once (a deleted model is gone from lists, an undeployed model is off the endpoint); the
model stays undeletable until `released()` says so (see `Operations.release_at`)."""

from __future__ import annotations

from typing import Any

from ..clock import rfc3339
from ..listing import fingerprint, paginate, with_token
from ..names import numeric_id
from ..routing import NO_QUERY, ApiRequest, check_query
from ..rpc import not_found
from ..store import Store
from .common import LIST_DEFAULT, LIST_MAX, TYPE, location

Q_LIST = frozenset({"filter", "pageSize", "pageToken", "returnPartialSuccess"})


class Operations:
    def __init__(self, store: Store, duration: float = 0.0) -> None:
        self.store = store
        self.duration = float(duration)

    def create(self, parent: str, metadata_type: str, response_type: str, now: float) -> dict[str, Any]:
        """A delete or undeploy operation, done `duration` virtual seconds from now (at once when 0)."""
        operations = self.store["operations"]
        name = f"{parent}/operations/{numeric_id(19, operations)}"
        stamp = rfc3339(now)
        operation = {"name": name,
                     "metadata": {"@type": TYPE + metadata_type,
                                  "genericMetadata": {"createTime": stamp, "updateTime": stamp}},
                     "done": self.duration <= 0}
        record: dict[str, Any] = {"seq": self.store.next_seq(), "operation": operation}
        if self.duration > 0:
            record["doneAt"], record["response"] = now + self.duration, {"@type": response_type}
        else:
            operation["response"] = {"@type": response_type}
        operations[name] = record
        self.store.changed()
        return operation

    def release_at(self, now: float) -> float:
        """Until when a model just undeployed stays undeletable: its undeploy operation's end plus three times as
        long again (the emulator's choice; the real service refuses such a delete with FAILED_PRECONDITION for a
        while, python-aiplatform#2807)."""
        return now + 4 * self.duration

    # ------------------------------------------------------------------ virtual time (callers hold store.lock)
    def settle(self, now: float) -> None:
        for record in self.store["operations"].values():
            if "doneAt" in record and now >= record["doneAt"]:
                operation = record["operation"]
                operation["done"], operation["response"] = True, record.pop("response")
                operation["metadata"]["genericMetadata"]["updateTime"] = rfc3339(record.pop("doneAt"))
                self.store.changed()

    def due_times(self) -> list[float]:
        return [r["doneAt"] for r in self.store["operations"].values() if "doneAt" in r]

    def find(self, name: str) -> dict[str, Any]:
        operations = self.store["operations"]
        if name in operations:
            return operations[name]
        parts = name.split("/")
        if len(parts) == 6 and parts[4] == "operations":    # the flat form finds a nested operation too
            suffix = "/operations/" + parts[5]
            for key, record in operations.items():
                if key.startswith("/".join(parts[:4]) + "/") and key.endswith(suffix):
                    return record
        raise not_found("Operation", name)

    # ------------------------------------------------------------------ routes (flat and nested forms)
    def list(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, Q_LIST)
        parent = _parent(request)
        prefix = parent + "/"
        items = [r for n, r in self.store["operations"].items() if n.startswith(prefix)
                 and (n.count("/") == parent.count("/") + 2 or parent.count("/") == 3)]
        page, token = paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                               request_key=fingerprint("operations", parent, request.query.get("filter", "")))
        return with_token({"operations": [r["operation"] for r in page]} if page else {}, token)

    def get(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        return self.find(_name(request))["operation"]

    def wait(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, frozenset({"timeout"}))
        return self.find(_name(request))["operation"]

    def cancel(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        self.find(_name(request))
        return {}   # best effort: deletes and undeploys cannot be stopped once accepted

    def delete(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        record = self.find(_name(request))
        del self.store["operations"][record["operation"]["name"]]
        self.store.changed()
        return {}


def _parent(request: ApiRequest) -> str:
    """The location (flat form) or the resource whose operations these are (nested form)."""
    parent = location(request)
    if "collection" in request.params:
        parent += f"/{request.params['collection']}/{request.params['resource']}"
    return parent


def _name(request: ApiRequest) -> str:
    return f"{_parent(request)}/operations/{request.params['operation']}"
