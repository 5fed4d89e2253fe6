"""What a success answer must be before anything reads it: read whole within a deadline and a size cap (streamed,
never buffered past the cap), not a redirect, `application/json`, a JSON object, and no `error` in it.

Anything else is a `BadResponse` (a `ResponseTooLarge`, or a `DeadlineExceeded` for a body that drips in too
slowly) naming the method, the URL without secrets, and what was wrong: never "an empty listing".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn

import httpx

from reconciler.clients.redact import redact_url, request_secrets, scrub
from reconciler.errors import BadResponse, DeadlineExceeded, ResponseTooLarge

MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # no answer of these APIs comes near it; a hostile one must not fill memory
JSON_TYPES = ("application/json",)


def read_body(response: httpx.Response, *, deadline: float, clock: Callable[[], float], seconds: float,
              limit: int | None = None) -> bytes:
    """The decoded body of a streamed response, refused once it passes `limit` bytes or the `deadline`."""
    limit = MAX_RESPONSE_BYTES if limit is None else limit
    request = response.request
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        _too_large(request, f"declares {int(declared)} bytes", limit)
    chunks, size = [], 0
    try:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                _too_large(request, "kept streaming", limit)
            chunks.append(chunk)
            if clock() > deadline:
                raise DeadlineExceeded(f"the answer took longer than {seconds:g}s to arrive "
                                       f"({size} bytes so far); the outcome is unknown",
                                       method=request.method, url=redact_url(request.url))
    except httpx.DecodingError as exc:
        fail(request, f"a body that cannot be decoded ({str(exc)[:200]})",
             http_status=response.status_code)
    return b"".join(chunks)


def decode_success(response: httpx.Response, content: bytes) -> dict:
    """A 1xx-3xx answer's body as a JSON object, or a BadResponse saying why it is not one."""
    check_success(response, content)
    request, status = response.request, response.status_code
    data = parse_json(content)
    if data is _NOT_JSON:
        fail(request, f"a body that is not JSON ({len(content)} bytes)", http_status=status)
    if not isinstance(data, dict):
        fail(request, f"a JSON {type(data).__name__}, not an object", http_status=status)
    if set(data) == {"error"}:  # an error envelope; a resource's own `error` (a failed job, operation) has a name
        error = data["error"]
        said = error.get("message") if isinstance(error, dict) else error
        fail(request, f"an error in a success answer: {str(said)[:300]!r}", http_status=status)
    return data


def check_success(response: httpx.Response, content: bytes) -> None:
    """What a 1xx-3xx answer must be whatever its body says: a 2xx, with a body, of a JSON content type (all a
    listing page recalled by its bytes, `pagememo`, is checked for: the rest was checked when it was read)."""
    request, status = response.request, response.status_code
    if not 200 <= status < 300:
        where = response.headers.get("location")
        to = f" to {redact_url(where)}" if where else ""
        fail(request, f"a redirect{to}; redirects are not followed", http_status=status)
    if not content or content.isspace():
        fail(request, "an empty body", http_status=status)
    kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in JSON_TYPES:
        fail(request, f"content type {kind or 'none'!r}, not application/json", http_status=status)


def operation(data: Any) -> dict:
    """A google.longrunning.Operation as read: `done` a boolean, `error` a Status object, and a `name` to poll
    by while it is not done; anything else is a BadResponse."""
    what = "a long-running operation"
    if not isinstance(data, dict):
        raise BadResponse(f"{what} that is a {type(data).__name__}, not an object", method="OPERATION")
    name, done = data.get("name"), data.get("done", False)
    where = name if isinstance(name, str) else ""
    if not isinstance(done, bool):
        raise BadResponse(f"{what} whose `done` is not a boolean: {done!r:.80}", method="OPERATION", url=where)
    if not done and not (isinstance(name, str) and name):
        raise BadResponse(f"{what} without a `name` to poll by", method="OPERATION")
    for key in ("error", "metadata", "response"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise BadResponse(f"{what} whose `{key}` is not an object", method="OPERATION", url=where)
    return data


_NOT_JSON = object()


def parse_json(content: bytes) -> Any:
    """Strict JSON (no NaN / Infinity), or `_NOT_JSON`."""
    try:
        return json.loads(content, parse_constant=_refuse)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _NOT_JSON


def _refuse(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")


def fail(request: httpx.Request, what: str, *, http_status: int = 0) -> NoReturn:
    """Raise the BadResponse; `what` may quote the server, which may echo what the request sent: every
    credential the request carried is scrubbed here, once for every such message."""
    raise BadResponse(scrub(f"the server answered with {what}", request_secrets(request)), method=request.method, url=redact_url(request.url),
                      http_status=http_status)


def _too_large(request: httpx.Request, how: str, limit: int) -> NoReturn:
    raise ResponseTooLarge(f"the answer {how} past the {limit / (1024 * 1024):g} MiB cap; refused",
                           method=request.method, url=redact_url(request.url))
