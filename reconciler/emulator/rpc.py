"""google.rpc error envelope: status codes, HTTP mapping (google/rpc/code.proto) and typed details; `Reply`, the
answer to one HTTP request (what the API surfaces, the admin surface and the HTTP server have in common)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rendering import payload

# name -> (google.rpc.Code number, HTTP status)
CODES: dict[str, tuple[int, int]] = {
    "OK": (0, 200),
    "CANCELLED": (1, 499),
    "UNKNOWN": (2, 500),
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "PERMISSION_DENIED": (7, 403),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "OUT_OF_RANGE": (11, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "DATA_LOSS": (15, 500),
    "UNAUTHENTICATED": (16, 401),
}
CODE_NAMES = {number: name for name, (number, _) in CODES.items()}
# HTTP status -> the code name a fault rule with only a status means
HTTP_DEFAULT_CODE = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                     404: "NOT_FOUND", 409: "ABORTED", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
                     500: "INTERNAL", 501: "UNIMPLEMENTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

TYPE_PREFIX = "type.googleapis.com/"


@dataclass
class Reply:
    """`body` is JSON, or raw `bytes` (media; its Content-Type in `headers`), or None for no body (204, 304)."""
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False             # "commit then drop": close the connection without answering

    @property
    def is_json(self) -> bool:
        return not isinstance(self.body, (bytes, bytearray)) and not (self.body is None and self.status in (204, 304))

    def payload(self) -> bytes:
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body)
        if self.body is None and self.status in (204, 304):
            return b""
        return payload(self.body)     # compact UTF-8 JSON; list items rendered ahead are spliced in


class RpcError(Exception):
    """An API error; rendered as `{"error": {code, message, status, details}}` with the mapped HTTP code."""

    def __init__(self, code_name: str, message: str, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        if code_name not in CODES:
            raise ValueError(f"unknown google.rpc.Code {code_name!r}")
        self.code_name = code_name
        self.message = message
        self.details = details or []
        self.headers = headers or {}
        self._http_status = http_status     # when the HTTP status is not the code's own (413, 415)

    @property
    def http_status(self) -> int:
        return self._http_status or CODES[self.code_name][1]

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.http_status, "message": self.message, "status": self.code_name}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    def reply(self) -> Reply:
        return Reply(self.http_status, self.body(), dict(self.headers))


def status(code_name: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A google.rpc.Status (as found in Operation.error and TuningJob.error): rpc code number, not HTTP."""
    result: dict[str, Any] = {"code": CODES[code_name][0], "message": message}
    if details:
        result["details"] = details
    return result


def bad_request(violations: list[tuple[str, str]], message: str | None = None) -> RpcError:
    detail = {"@type": TYPE_PREFIX + "google.rpc.BadRequest",
              "fieldViolations": [{"field": field, "description": text} for field, text in violations]}
    if message is None:
        message = violations[0][1] if len(violations) == 1 else "Request contains an invalid argument."
    return RpcError("INVALID_ARGUMENT", message, [detail])


def invalid(field: str, description: str) -> RpcError:
    return bad_request([(field, description)])


def retry_info(seconds: float) -> dict[str, Any]:
    return {"@type": TYPE_PREFIX + "google.rpc.RetryInfo", "retryDelay": f"{seconds:.3f}s".replace(".000s", "s")}


def error_info(reason: str, domain: str, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"@type": TYPE_PREFIX + "google.rpc.ErrorInfo", "reason": reason, "domain": domain}
    if metadata:
        detail["metadata"] = metadata
    return detail


def not_found(what: str, name: str) -> RpcError:
    return RpcError("NOT_FOUND", f"{what} {name!r} not found.")


def precondition(message: str) -> RpcError:
    return RpcError("FAILED_PRECONDITION", message)


def unauthenticated(message: str) -> RpcError:
    return RpcError("UNAUTHENTICATED", message,
                    [error_info("CREDENTIALS_MISSING", "googleapis.com")])


def code_name_of(value: Any, default: str = "INTERNAL") -> str:
    """Accept a code as name ("NOT_FOUND") or rpc number (5)."""
    if value is None:
        return default
    if isinstance(value, int) and value in CODE_NAMES:
        return CODE_NAMES[value]
    if isinstance(value, str) and value.upper() in CODES:
        return value.upper()
    if isinstance(value, str) and value.isdigit() and int(value) in CODE_NAMES:
        return CODE_NAMES[int(value)]
    raise invalid("code", f"unknown google.rpc.Code {value!r}")
