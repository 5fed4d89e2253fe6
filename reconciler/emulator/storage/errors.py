"""Cloud Storage's error envelope (JSON API v1, not google.rpc):
    {"error": {"code": 412, "message": M, "errors": [{"domain": "global", "reason": "conditionNotMet",
                                                      "message": M, "locationType": "header", "location": "If-Match"}]}}
`StorageError` is one such answer; `from_rpc` renders an emulator-wide refusal (quota, an injected fault) in it."""

from __future__ import annotations

from typing import Any

from ..rpc import Reply, RpcError

# HTTP status -> the reason Cloud Storage gives for it when nothing more specific applies
REASONS = {400: "invalid", 401: "required", 403: "forbidden", 404: "notFound", 405: "methodNotAllowed",
           409: "conflict", 412: "conditionNotMet", 413: "uploadTooLarge", 429: "rateLimitExceeded",
           499: "clientClosedRequest", 500: "internalError", 501: "notImplemented", 503: "backendError",
           504: "deadlineExceeded"}


class StorageError(Exception):
    def __init__(self, status: int, message: str, reason: str | None = None, *, location: str | None = None,
                 location_type: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.reason = reason or REASONS.get(status, "backendError")
        self.location, self.location_type = location, location_type
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {"domain": "global", "reason": self.reason, "message": self.message}
        if self.location is not None:
            item["locationType"] = self.location_type or "parameter"
            item["location"] = self.location
        return {"error": {"code": self.status, "message": self.message, "errors": [item]}}

    def reply(self) -> Reply:
        return Reply(self.status, None if self.status == 304 else self.body(), dict(self.headers))


def not_found(message: str) -> StorageError:
    return StorageError(404, message, "notFound")


def invalid(message: str, parameter: str | None = None) -> StorageError:
    return StorageError(400, message, "invalid", location=parameter)


def required(parameter: str) -> StorageError:
    return StorageError(400, f"Required parameter: {parameter}", "required", location=parameter)


def condition_not_met() -> StorageError:
    return StorageError(412, "At least one of the pre-conditions you specified did not hold.", "conditionNotMet",
                        location="If-Match", location_type="header")


def unauthenticated() -> StorageError:
    return StorageError(401, "Anonymous caller does not have access to the Google Cloud Storage resource: send an "
                             "OAuth 2 access token (Authorization: Bearer ...).", "required",
                        location="Authorization", location_type="header")


def internal(err: BaseException) -> StorageError:
    return StorageError(500, f"Internal error in the emulator: {err!r}", "internalError")


def from_rpc(err: RpcError) -> StorageError:
    """A refusal made before routing (quota, an injected fault) in the Cloud Storage envelope: same HTTP status,
    same headers (Retry-After), the reason Cloud Storage gives for that status."""
    return StorageError(err.http_status, err.message, headers=err.headers)
