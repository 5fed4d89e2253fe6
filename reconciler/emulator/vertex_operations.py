"""Vertex AI long-running operations in every nested form (`.../tuningJobs|models|endpoints/X/operations/Y`)
and the flat `.../operations/Y` form: get, :wait, list, :cancel, delete. Emulated deletes and undeploys
finish at once, so their operations are born done."""

from __future__ import annotations

from typing import Any

from . import listing
from .clock import rfc3339
from .names import numeric_id
from .routing import ApiRequest, check_query, no_route
from .rpc import not_found
from .store import Store

TYPE = "type.googleapis.com/google.cloud.aiplatform.v1."
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
LIST_DEFAULT, LIST_MAX = 100, 1000      # not documented by Google (reference: Pagination); chosen here
Q_OPS_LIST = frozenset({"filter", "pageSize", "pageToken", "returnPartialSuccess"})


class Operations:
    store: Store

    def operation(self, parent: str, metadata_type: str, response_type: str, now: float) -> dict[str, Any]:
        """Deletes and undeploys complete at once in the emulator: the operation is born done."""
        operations = self.store["operations"]
        name = f"{parent}/operations/{numeric_id(19, operations)}"
        stamp = rfc3339(now)
        operation = {"name": name,
                     "metadata": {"@type": TYPE + metadata_type,
                                  "genericMetadata": {"createTime": stamp, "updateTime": stamp}},
                     "done": True, "response": {"@type": response_type}}
        operations[name] = {"seq": self.store.next_seq(), "operation": operation}
        self.store.changed()
        return operation

    def find_operation(self, name: str) -> dict[str, Any]:
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

    def operation_call(self, request: ApiRequest, parent: str, rest: list[str]) -> dict[str, Any]:
        method, verb = request.method, request.verb
        if not rest and method == "GET" and verb is None:
            check_query(request.query, Q_OPS_LIST)
            prefix = parent + "/"
            items = [r for n, r in self.store["operations"].items() if n.startswith(prefix)
                     and (n.count("/") == parent.count("/") + 2 or parent.count("/") == 3)]
            page, token = listing.paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                                           request_key=listing.fingerprint("operations", parent,
                                                                           request.query.get("filter", "")))
            return listing.with_token({"operations": [r["operation"] for r in page]} if page else {}, token)
        if len(rest) == 1:
            name = f"{parent}/operations/{rest[0]}"
            if method == "GET" and verb is None:
                check_query(request.query, frozenset())
                return self.find_operation(name)["operation"]
            if method == "POST" and verb == "wait":
                check_query(request.query, frozenset({"timeout"}))
                return self.find_operation(name)["operation"]
            if method == "POST" and verb == "cancel":
                check_query(request.query, frozenset())
                self.find_operation(name)
                return {}   # every emulator operation is already done; cancel is best effort
            if method == "DELETE" and verb is None:
                check_query(request.query, frozenset())
                record = self.find_operation(name)
                del self.store["operations"][record["operation"]["name"]]
                self.store.changed()
                return {}
        raise no_route(request)
