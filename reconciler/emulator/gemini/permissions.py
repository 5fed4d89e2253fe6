"""Gemini API permissions of a tuned model (v1beta): list, create, get, patch, delete, and
tunedModels.transferOwnership. Every new tuned model gets an OWNER permission for the configured email."""

from __future__ import annotations

from typing import Any

from ..clock import rfc3339
from ..listing import fingerprint, paginate, with_token
from ..names import slug_id
from ..routing import NO_QUERY, ApiRequest, check_query, no_route
from ..rpc import RpcError, bad_request, invalid, not_found, precondition
from ..schema import OUT, Enum, Violations, coerce
from ..store import Store
from .common import LIST_DEFAULT, LIST_MAX, model_name
from .lifecycle import find

GRANTEE = Enum("google.ai.generativelanguage.v1beta.Permission.GranteeType",
               {"GRANTEE_TYPE_UNSPECIFIED": 0, "USER": 1, "GROUP": 2, "EVERYONE": 3})
ROLE = Enum("google.ai.generativelanguage.v1beta.Permission.Role",
            {"ROLE_UNSPECIFIED": 0, "OWNER": 1, "WRITER": 2, "READER": 3})
PERMISSION_SPEC = {"name": OUT, "granteeType": GRANTEE, "emailAddress": "string", "role": ROLE}


class Permissions:
    def __init__(self, store: Store, owner_email: str) -> None:
        self.store = store
        self.owner_email = owner_email

    def grant_owner(self, model: str) -> None:
        owner = f"{model}/permissions/{slug_id(10)}"
        self.store["permissions"][owner] = {"seq": self.store.next_seq(), "permission": {
            "name": owner, "granteeType": "USER", "emailAddress": self.owner_email, "role": "OWNER"}}

    def remove_all(self, model: str) -> None:
        for key in [k for k in self.store["permissions"] if k.startswith(model + "/permissions/")]:
            del self.store["permissions"][key]

    def shared_with_everyone(self, model: str) -> bool:
        prefix = model + "/permissions/"
        return any(n.startswith(prefix) and p["permission"].get("granteeType") == "EVERYONE"
                   for n, p in self.store["permissions"].items())

    # ------------------------------------------------------------------ routes (the tuned model must exist)
    def list(self, request: ApiRequest, now: float) -> dict[str, Any]:
        model = model_name(request)
        find(self.store, model)
        check_query(request.query, frozenset({"pageSize", "pageToken"}))
        prefix = model + "/permissions/"
        items = [p["permission"] for k, p in self.store["permissions"].items() if k.startswith(prefix)]
        page, token = paginate(items, request.query, default=LIST_DEFAULT, maximum=LIST_MAX,
                               request_key=fingerprint("permissions", model))
        return with_token({"permissions": page} if page else {}, token)

    def create(self, request: ApiRequest, now: float) -> dict[str, Any]:
        model = model_name(request)
        find(self.store, model)
        check_query(request.query, NO_QUERY)
        errors = Violations()
        body = coerce(PERMISSION_SPEC, request.object_body(), "permission", errors)
        if errors:
            raise bad_request(errors)
        grantee, email, role = body.get("granteeType"), body.get("emailAddress"), body.get("role")
        _check_grant(grantee, email, role)
        prefix = model + "/permissions/"
        for stored in self.store["permissions"].values():
            existing = stored["permission"]
            if existing["name"].startswith(prefix) and existing.get("granteeType") == grantee \
                    and existing.get("emailAddress") == email:
                raise RpcError("ALREADY_EXISTS", f"A permission for this grantee already exists: {existing['name']}.")
        name = prefix + slug_id(10)
        permission = {"name": name, "granteeType": grantee, **({"emailAddress": email} if email else {}),
                      "role": role}
        self.store["permissions"][name] = {"seq": self.store.next_seq(), "permission": permission}
        self.store.changed()
        return permission

    def get(self, request: ApiRequest, now: float) -> dict[str, Any]:
        _, _, permission = self._lookup(request)
        check_query(request.query, NO_QUERY)
        return permission

    def patch(self, request: ApiRequest, now: float) -> dict[str, Any]:
        _, _, permission = self._lookup(request)
        check_query(request.query, frozenset({"updateMask"}))
        if request.update_mask() != ["role"]:
            raise invalid("update_mask", "update_mask is required and may only contain 'role'.")
        errors = Violations()
        body = coerce(PERMISSION_SPEC, request.object_body(), "permission", errors)
        if errors:
            raise bad_request(errors)
        role = body.get("role")
        if role in (None, "ROLE_UNSPECIFIED"):
            raise invalid("permission.role", "role is required.")
        if role == "OWNER" or permission.get("role") == "OWNER":
            raise precondition("Ownership changes only through tunedModels.transferOwnership.")
        permission["role"] = role
        self.store.changed()
        return permission

    def delete(self, request: ApiRequest, now: float) -> dict[str, Any]:
        record, name, permission = self._lookup(request)
        check_query(request.query, NO_QUERY)
        if permission.get("role") == "OWNER":
            raise precondition("The owner's permission cannot be deleted; transfer ownership first.")
        del self.store["permissions"][name]
        record["model"]["updateTime"] = rfc3339(now)
        self.store.changed()
        return {}

    def unmatched(self, request: ApiRequest, now: float) -> Any:
        """Any other call under permissions: the tuned model (and a named permission) must exist first."""
        if "permission" in request.params:
            self._lookup(request)
        else:
            find(self.store, model_name(request))
        raise no_route(request)

    def transfer_ownership(self, request: ApiRequest, now: float) -> dict[str, Any]:
        check_query(request.query, NO_QUERY)
        errors = Violations()
        body = coerce({"name": "string", "emailAddress": "string"}, request.object_body(), "", errors)
        if errors:
            raise bad_request(errors)
        model = model_name(request)
        find(self.store, model)
        email = body.get("emailAddress")
        if not email:
            raise invalid("email_address", "email_address is required.")
        prefix = model + "/permissions/"
        mine = {k: p["permission"] for k, p in self.store["permissions"].items() if k.startswith(prefix)}
        target = None
        for permission in mine.values():
            if permission.get("role") == "OWNER":
                permission["role"] = "WRITER"     # not documented; the previous owner is demoted to writer
            if permission.get("granteeType") == "USER" and permission.get("emailAddress") == email:
                target = permission
        if target is None:
            key = prefix + slug_id(10)
            target = {"name": key, "granteeType": "USER", "emailAddress": email}
            self.store["permissions"][key] = {"seq": self.store.next_seq(), "permission": target}
        target["role"] = "OWNER"
        self.store.changed()
        return {}

    def _lookup(self, request: ApiRequest) -> tuple[dict[str, Any], str, dict[str, Any]]:
        """(tuned model record, permission name, Permission) the route names, or the API's 404 for either."""
        model = model_name(request)
        record = find(self.store, model)
        name = f"{model}/permissions/{request.params['permission']}"
        stored = self.store["permissions"].get(name)
        if stored is None:
            raise not_found("Permission", name)
        return record, name, stored["permission"]


def _check_grant(grantee: str | None, email: str | None, role: str | None) -> None:
    problems = []
    if role in (None, "ROLE_UNSPECIFIED"):
        problems.append(("permission.role", "role is required."))
    elif role == "OWNER":
        # Not documented; one owner per model, changed with tunedModels.transferOwnership.
        problems.append(("permission.role", "OWNER cannot be granted; use tunedModels.transferOwnership."))
    if grantee in (None, "GRANTEE_TYPE_UNSPECIFIED"):
        problems.append(("permission.grantee_type", "grantee_type is required."))
    elif grantee in ("USER", "GROUP") and not email:
        problems.append(("permission.email_address", "email_address is required for USER and GROUP."))
    elif grantee == "EVERYONE" and email:
        problems.append(("permission.email_address", "email_address must be unset for EVERYONE."))
    if problems:
        raise bad_request(problems)
