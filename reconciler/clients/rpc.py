"""google.rpc errors as typed `ApiError`s: an HTTP error answer (JSON envelope or not), an operation's `error`
Status, and the retry delay a server asks for in `RetryInfo`."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import httpx

from reconciler.clients.redact import redact_url, request_secrets, scrub
from reconciler.errors import API_ERRORS_BY_STATUS, ApiError

# google/rpc/code.proto: number -> name, and the HTTP status each name maps to (for bodies without `status`).
RPC_CODE_NAMES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}
STATUS_BY_HTTP = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ALREADY_EXISTS", 412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
    501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


def translate_error(response: httpx.Response, content: bytes | None = None) -> ApiError:
    """A non-2xx response as the typed error for its google.rpc status (non-JSON bodies included).

    content: the body already read (a streamed response); else `response.content`."""
    request = response.request
    secrets = request_secrets(request)
    body = response.content if content is None else content
    envelope = error_envelope(body)
    if envelope is not None:
        status = envelope.get("status")
        status = status if isinstance(status, str) and status else STATUS_BY_HTTP.get(response.status_code,
                                                                                       "UNKNOWN")
        message = str(envelope.get("message") or response.reason_phrase)
        details = envelope.get("details") if isinstance(envelope.get("details"), list) else []
    else:
        status = STATUS_BY_HTTP.get(response.status_code, "UNKNOWN")
        text = " ".join(body.decode("utf-8", "replace").split())[:300]
        message = f"{response.reason_phrase or 'error'} (non-JSON body: {text!r})" if text \
            else response.reason_phrase or "error"
        details = []
    return make_error(status, scrub(message, secrets), method=request.method, url=redact_url(request.url),
                      http_status=response.status_code, details=scrub(details, secrets))


def make_error(status: str, message: str, *, method: str = "", url: str = "", http_status: int = 0,
               details: list | None = None) -> ApiError:
    cls = API_ERRORS_BY_STATUS.get(status, ApiError)
    error = cls(message, method=method, url=url, http_status=http_status, status=status, details=details)
    error.retry_delay = retry_info_delay(details or [])
    return error


def error_from_status(status: Mapping, *, method: str = "", url: str = "") -> ApiError:
    """A google.rpc.Status (an operation's `error`) as a typed error."""
    code = status.get("code", 2)
    name = RPC_CODE_NAMES.get(code, "UNKNOWN") if isinstance(code, int) else str(code)
    details = status.get("details")
    return make_error(name, str(status.get("message") or name), method=method, url=url,
                      details=list(details) if isinstance(details, list) else [])


def retry_info_delay(details: list) -> float | None:
    """`google.rpc.RetryInfo.retryDelay` from error details, in seconds ("1.5s" or {seconds, nanos})."""
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == RETRY_INFO_TYPE:
            return parse_duration(detail.get("retryDelay"))
    return None


def parse_duration(value: Any) -> float | None:
    """A google.protobuf.Duration ("1.5s" or {seconds, nanos}) in seconds; None unless finite and >= 0."""
    seconds = None
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)s\s*", value)
        seconds = float(match.group(1)) if match else None
    elif isinstance(value, dict):
        try:
            seconds = float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        except (TypeError, ValueError, OverflowError):
            return None
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None


def error_envelope(content: bytes) -> dict | None:
    try:
        data = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if isinstance(data, list) and data and isinstance(data[0], dict):  # some Google frontends wrap it in a list
        data = data[0]
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"]
    return None
