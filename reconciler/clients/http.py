"""The one HTTP policy both API clients share.

Timeouts, retries with exponential backoff and full jitter (idempotent calls only), `Retry-After` and
`google.rpc.RetryInfo`, a token-bucket rate limiter shared by every worker, pagination, and the single place
where a google.rpc error envelope (or a transport failure) becomes a typed `ApiError`.

Credentials never leave this module in text: every URL shown drops `key=`/`access_token=`, and any secret
the request carried is scrubbed from server messages before they reach an exception or a log line.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random as _random
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from reconciler.errors import API_ERRORS_BY_STATUS, ApiError, DeadlineExceeded, TransportError

log = logging.getLogger("reconciler.http")

RETRYABLE_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})
SECRET_QUERY_PARAMS = frozenset({"key", "access_token", "token", "api_key"})
SECRET_HEADERS = ("authorization", "x-goog-api-key", "proxy-authorization")
REDACTED = "[REDACTED]"

# google/rpc/code.proto: number -> name, and the HTTP status each name maps to (for bodies without `status`).
RPC_CODE_NAMES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}
STATUS_BY_HTTP = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ALREADY_EXISTS", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL",
    501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. `max_attempts` counts the first try; delays are in seconds."""

    max_attempts: int = 5
    initial_delay: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 30.0  # ceiling of the computed exponential backoff
    max_delay: float = 60.0  # ceiling of any single wait, server-requested ones included
    timeout: float = 60.0  # per request (connect, read, write, pool)

    def backoff(self, retry: int, random: Callable[[], float]) -> float:
        """Full jitter: uniform in [0, min(max_backoff, initial * multiplier**retry)]."""
        return random() * min(self.max_backoff, self.initial_delay * self.multiplier ** retry)


class RateLimiter:
    """A token bucket shared by every caller that holds it; a 429 pauses all of them.

    `rate` tokens per second, up to `burst` saved. `pause(seconds)` (called when a server says Retry-After)
    holds back every `acquire` until the pause is over, so eight workers under one limiter back off together.
    """

    def __init__(self, rate: float = 50.0, burst: int = 50, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst = rate, float(burst)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._stamp = clock()
        self._paused_until = 0.0

    def acquire(self) -> None:
        while True:
            wait = self._take_or_wait()
            if wait <= 0:
                return
            self._sleep(wait)

    def _take_or_wait(self) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if now < self._paused_until:
                return self._paused_until - now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
            self._tokens = 0.0

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, burst={int(self.burst)})"


class Session:
    """Sends API calls through one `httpx.Client` under the shared policy; returns decoded JSON bodies.

    `idempotent=False` (creates) is sent once: a 5xx or a lost answer is surfaced to the caller, who must
    look the resource up before trying again. The only failure retried for a create is a connection that
    was never established, because then the server cannot have seen the request.
    """

    def __init__(self, client: httpx.Client, *, policy: RetryPolicy | None = None,
                 limiter: RateLimiter | None = None, sleep: Callable[[float], None] = time.sleep,
                 random: Callable[[], float] = _random.random, clock: Callable[[], float] = time.time):
        self.client = client
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.sleep, self.random, self.clock = sleep, random, clock

    def __repr__(self) -> str:
        return f"Session(policy={self.policy!r}, limiter={self.limiter!r})"

    def call(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
             body: Any = None, idempotent: bool) -> dict:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        for attempt in range(1, self.policy.max_attempts + 1):
            last = attempt == self.policy.max_attempts
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                response = self._send(method, url, params, body)
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
                error = _transport_error(exc, method, url)
                if last or not (idempotent or never_sent):
                    raise error from None
                self._wait(attempt, error, self._delay(attempt, None))
                continue
            if response.status_code < 400:
                return _decode_success(response, method, url)
            error = translate_error(response)
            delay = self._delay(attempt, _server_delay(response, error, self.clock))
            if response.status_code == 429 and self.limiter is not None:
                self.limiter.pause(delay)  # throttling is shared: every worker under this limiter waits
            if last or not idempotent or response.status_code not in RETRYABLE_HTTP_STATUSES:
                raise error
            self._wait(attempt, error, delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(self, url: str, items_key: str, params: Mapping[str, Any] | None = None) -> Iterator[dict]:
        """Every item of a list call, following `nextPageToken` with the same other parameters."""
        params = dict(params or {})
        token, seen = None, set()
        while True:
            page = self.call("GET", url, params={**params, "pageToken": token}, idempotent=True)
            yield from page.get(items_key) or ()
            token = page.get("nextPageToken")
            if not token:
                return
            if token in seen:
                raise ApiError("the server repeated a page token; stopping to avoid an endless listing",
                               method="GET", url=redact_url(url))
            seen.add(token)

    def _send(self, method: str, url: str, params: dict, body: Any) -> httpx.Response:
        kwargs: dict[str, Any] = {"params": params or None, "timeout": self.policy.timeout}
        if body is not None:
            kwargs["json"] = body
        response = self.client.request(method, url, **kwargs)
        log.debug("%s %s -> %s", method, redact_url(str(response.request.url)), response.status_code)
        return response

    def _delay(self, attempt: int, server_delay: float | None) -> float:
        """The larger of our backoff and what the server asked for, capped."""
        delay = max(self.policy.backoff(attempt - 1, self.random), server_delay or 0.0)
        return min(delay, self.policy.max_delay)

    def _wait(self, attempt: int, error: ApiError, delay: float) -> None:
        log.info("retrying in %.1fs after attempt %d: %s", delay, attempt, error)
        self.sleep(delay)


def redact_url(url: str) -> str:
    """The URL without query parameters that carry credentials (`key=`, `access_token=`)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in SECRET_QUERY_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(query)))


def request_secrets(request: httpx.Request) -> list[str]:
    """Every credential a request carried (header values, `key=` parameters), longest first."""
    found = []
    for name in SECRET_HEADERS:
        value = request.headers.get(name)
        if value:
            found += [value, value.split(" ", 1)[-1]]
    found += [v for k, v in request.url.params.multi_items() if k.lower() in SECRET_QUERY_PARAMS and v]
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def scrub(value: Any, secrets: list[str]) -> Any:
    """`value` (str, list or dict, recursively) with every secret replaced by [REDACTED]."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    return value


def translate_error(response: httpx.Response) -> ApiError:
    """A non-2xx response as the typed error for its google.rpc status (non-JSON bodies included)."""
    request = response.request
    secrets = request_secrets(request)
    envelope = _error_envelope(response)
    if envelope is not None:
        status = envelope.get("status") or STATUS_BY_HTTP.get(response.status_code, "UNKNOWN")
        message = str(envelope.get("message") or response.reason_phrase)
        details = envelope.get("details") if isinstance(envelope.get("details"), list) else []
    else:
        status = STATUS_BY_HTTP.get(response.status_code, "UNKNOWN")
        text = " ".join(response.text.split())[:300]
        message = f"{response.reason_phrase or 'error'} (non-JSON body: {text!r})" if text \
            else response.reason_phrase or "error"
        details = []
    return make_error(status, scrub(message, secrets), method=request.method, url=redact_url(str(request.url)),
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
    return make_error(name, str(status.get("message") or name), method=method, url=url,
                      details=list(status.get("details") or []))


def retry_info_delay(details: list) -> float | None:
    """`google.rpc.RetryInfo.retryDelay` from error details, in seconds ("1.5s" or {seconds, nanos})."""
    for detail in details:
        if isinstance(detail, dict) and detail.get("@type") == RETRY_INFO_TYPE:
            return parse_duration(detail.get("retryDelay"))
    return None


def parse_duration(value: Any) -> float | None:
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(-?\d+(?:\.\d+)?)s\s*", value)
        return float(match.group(1)) if match else None
    if isinstance(value, dict):
        return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
    return None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from `now`: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _server_delay(response: httpx.Response, error: ApiError, clock: Callable[[], float]) -> float | None:
    delays = [d for d in (parse_retry_after(response.headers.get("retry-after"), clock()),
                          getattr(error, "retry_delay", None)) if d is not None]
    return max(delays) if delays else None


def _error_envelope(response: httpx.Response) -> dict | None:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None
    if isinstance(data, list) and data and isinstance(data[0], dict):  # some Google frontends wrap it in a list
        data = data[0]
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return data["error"]
    return None


def _decode_success(response: httpx.Response, method: str, url: str) -> dict:
    if not response.content:
        return {}
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise ApiError(f"HTTP {response.status_code} with a body that is not JSON", method=method,
                       url=redact_url(url), http_status=response.status_code) from None
    return data if isinstance(data, dict) else {"value": data}


def _transport_error(exc: httpx.TransportError, method: str, url: str) -> TransportError:
    secrets = request_secrets(exc.request) if _has_request(exc) else []
    detail = scrub(str(exc) or type(exc).__name__, secrets)
    return TransportError(f"no answer ({type(exc).__name__}: {detail}); the outcome is unknown",
                          method=method, url=redact_url(url))


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when httpx did not attach one
    except RuntimeError:
        return False
    return True


def poll_operation(get: Callable[[str], dict], operation: dict, *, timeout: float,
                   sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                   initial_delay: float = 1.0, max_delay: float = 10.0) -> dict:
    """Poll `get(name)` until the operation is done; its error, if any, raised as a typed ApiError."""
    deadline, delay = clock() + timeout, initial_delay
    while not operation.get("done"):
        remaining = deadline - clock()
        if remaining <= 0:
            raise DeadlineExceeded(f"operation {operation.get('name')} not done after {timeout:g}s")
        sleep(min(delay, remaining))
        delay = min(delay * 1.5, max_delay)
        operation = get(operation["name"])
    if isinstance(operation.get("error"), dict):
        raise error_from_status(operation["error"], method="OPERATION", url=operation.get("name", ""))
    return operation
