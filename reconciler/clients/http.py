"""The one HTTP policy both API clients share.

Timeouts and a total deadline per request, a response size cap, retries with exponential backoff and full jitter
(idempotent calls only), `Retry-After` and `google.rpc.RetryInfo`, token-bucket rate limiters shared by every
worker (one per quota bucket: `RateLimits`), pagination, and the single place where an answer becomes a decoded
JSON object or a typed `ApiError`:
a google.rpc error envelope (`rpc`), a transport failure, or a success that is not one (`responses`: a redirect,
a body that is not a JSON object, an `error` in a 2xx; a listing page whose collection is not a list).

Credentials never leave this module in text (`redact`): every URL shown drops its userinfo and `key=` /
`access_token=`, and any secret the request carried is scrubbed from server messages.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random as _random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from reconciler.clients import responses
from reconciler.clients.pagememo import PageMemo
from reconciler.clients.redact import redact_url, request_secrets, scrub
from reconciler.clients.rpc import error_from_status, translate_error
from reconciler.errors import ApiError, BadResponse, DeadlineExceeded, TransportError

log = logging.getLogger("reconciler.http")

RETRYABLE_HTTP_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. `max_attempts` counts the first try; delays are in seconds."""

    max_attempts: int = 5
    initial_delay: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 30.0  # ceiling of the computed exponential backoff
    max_delay: float = 60.0  # ceiling of any single wait, server-requested ones included
    timeout: float = 60.0  # per network operation (connect, each read, write, pool)
    deadline: float = 60.0  # per attempt, from sending to the last byte of the answer: a slow drip ends here
    operation_poll: float = 1.0  # the first wait before reading a long-running operation again (then x1.5)

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


class RateLimits:
    """One `RateLimiter` per quota bucket, each `rate` requests/s (up to `burst` saved), made on first use: the
    services count quota per bucket (Vertex AI per project and region, the Gemini API per project), so a 429
    in one bucket pauses only the workers calling into it, and two regions never throttle each other.
    A `Session` asks for the limiter of each call's bucket (`bucket(key)`), its key chosen by the API client."""

    def __init__(self, rate: float = 50.0, burst: int | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        burst = max(1, int(rate)) if burst is None else burst
        RateLimiter(rate, burst)  # the same ValueError for a bad rate or burst, at once
        self.rate, self.burst = rate, burst
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._buckets: dict[str, RateLimiter] = {}

    def bucket(self, key: str) -> RateLimiter:
        with self._lock:
            limiter = self._buckets.get(key)
            if limiter is None:
                limiter = self._buckets[key] = RateLimiter(self.rate, self.burst, clock=self._clock,
                                                           sleep=self._sleep)
            return limiter

    def buckets(self) -> dict[str, RateLimiter]:
        with self._lock:
            return dict(self._buckets)

    def __repr__(self) -> str:
        return f"RateLimits(rate={self.rate} per bucket, burst={self.burst})"


Limiter = RateLimiter | RateLimits


class Session:
    """Sends API calls through one `httpx.Client` under the shared policy; returns decoded JSON bodies.

    `idempotent=False` (creates) is sent once: a 5xx or a lost answer is surfaced to the caller, who must
    look the resource up before trying again. The only failure retried for a create is a connection that
    was never established, because then the server cannot have seen the request.

    An answer that is not what a success must be (`responses`) is a BadResponse, never retried; one that drips
    in past `policy.deadline` is a DeadlineExceeded, not retried either (the server is answering, too slowly);
    both mean "may have happened" to a create's caller.
    """

    def __init__(self, client: httpx.Client, *, policy: RetryPolicy | None = None,
                 limiter: Limiter | None = None, sleep: Callable[[float], None] = time.sleep,
                 random: Callable[[], float] = _random.random, clock: Callable[[], float] = time.time,
                 bucket: Callable[[str], str] = lambda url: ""):
        """limiter: one RateLimiter for every call, or RateLimits: the limiter of each call's quota bucket,
        `bucket(url)` (the API client knows how its service counts quota)."""
        self.client = client
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.bucket = bucket
        self.sleep, self.random, self.clock = sleep, random, clock

    def __repr__(self) -> str:
        return f"Session(policy={self.policy!r}, limiter={self.limiter!r})"

    def call(self, method: str, url: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
             content: bytes | None = None, headers: Mapping[str, str] | None = None, idempotent: bool) -> dict:
        """A JSON API call: the decoded JSON object of the answer."""
        response, answer = self.exchange(method, url, params=params, body=body, content=content, headers=headers,
                                         idempotent=idempotent)
        return responses.decode_success(response, answer)

    def limiter_for(self, url: str) -> Limiter | None:
        """The limiter of the quota bucket `url` is billed to (one per bucket), or the one limiter given."""
        return self.limiter.bucket(self.bucket(url)) if isinstance(self.limiter, RateLimits) else self.limiter

    def exchange(self, method: str, url: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                 content: bytes | None = None, headers: Mapping[str, str] | None = None,
                 idempotent: bool) -> tuple[httpx.Response, bytes]:
        """One call under the policy (limiter, retries, error translation), its success answer as sent: the
        response and its body. `body` is sent as JSON; `content` (with its `headers`) as is."""
        params = {k: v for k, v in (params or {}).items() if v is not None}
        payload = {"json": body} if body is not None else {}
        if content is not None:
            payload = {"content": content}
        limiter = self.limiter_for(url)
        for attempt in range(1, self.policy.max_attempts + 1):
            last = attempt == self.policy.max_attempts
            if limiter is not None:
                limiter.acquire()
            try:  # a BadResponse (and a DeadlineExceeded: an answer dripping in) is raised, never retried
                response, answer = self._send(method, url, params, payload, headers)
            except httpx.TransportError as exc:
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
                error = _transport_error(exc, method, url)
                if last or not (idempotent or never_sent):
                    raise error from None
                self._wait(attempt, error, self._delay(attempt, None))
                continue
            if response.status_code < 400:
                return response, answer
            error = translate_error(response, answer)
            asked = _server_delay(response, error, self.clock)
            delay = self._delay(attempt, asked)
            if response.status_code == 429 and limiter is not None:
                # throttling is shared: every worker calling into this quota bucket waits, for as long as the
                # server said its quota needs (else our backoff); this request itself waits its own backoff
                limiter.pause(min(asked, self.policy.max_delay) if asked is not None else delay)
            if last or not idempotent or response.status_code not in RETRYABLE_HTTP_STATUSES:
                raise error
            self._wait(attempt, error, delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def pages(self, url: str, items_key: str, params: Mapping[str, Any] | None = None, *,
              read: Callable[[Any], Any] | None = None, memo: bool = False) -> Iterator[Any]:
        """Every item of a list call, following `nextPageToken` with the same other parameters; each `read(item)`
        when a reader is given (a BadResponse it raises names this call). `memo`: pages answered with bytes read
        before are recalled as read then (`pagememo`), not parsed and read again."""
        params = dict(params or {})
        token, seen = None, set()
        recalled = PageMemo(url, params, read) if memo and read is not None else None
        while True:
            response, answer = self.exchange("GET", url, params={**params, "pageToken": token}, idempotent=True)
            known = recalled.recall(answer) if recalled is not None else None
            if known is not None:
                responses.check_success(response, answer)
                items, token = known
            else:
                items, token = self._page(url, items_key, responses.decode_success(response, answer))
                if read is not None:
                    items = [self.read_at(url, read, item) for item in items]
                if recalled is not None:
                    recalled.keep(answer, items, token)
            yield from items
            if not token:
                if recalled is not None:
                    recalled.save()
                return
            if token in seen:
                raise ApiError("the server repeated a page token; stopping to avoid an endless listing",
                               method="GET", url=redact_url(url))
            seen.add(token)

    @staticmethod
    def _page(url: str, items_key: str, page: dict) -> tuple[list, str | None]:
        """A listing page's items and next page token, when they are the shapes a listing has."""
        items, token = page.get(items_key), page.get("nextPageToken")
        if items is not None and not (isinstance(items, list) and all(isinstance(i, dict) for i in items)):
            raise BadResponse(f"the server answered a listing whose {items_key!r} is not a list of objects",
                              method="GET", url=redact_url(url))
        if token is not None and not isinstance(token, str):
            raise BadResponse(f"the server answered a listing whose nextPageToken is a {type(token).__name__}, "
                              "not a string", method="GET", url=redact_url(url))
        return items or [], token

    @staticmethod
    def read_at(url: str, read: Callable[[Any], Any], item: Any) -> Any:
        """`read(item)`, a BadResponse it raises naming the GET of `url` that answered `item`."""
        try:
            return read(item)
        except BadResponse as err:
            if err.method:
                raise
            raise BadResponse(err.api_message, method="GET", url=redact_url(url)) from None

    def _send(self, method: str, url: str, params: dict, payload: dict,
              headers: Mapping[str, str] | None) -> tuple[httpx.Response, bytes]:
        """One attempt, streamed: the response and its body, read within the deadline and the size cap."""
        seconds = self.policy.deadline
        deadline = time.monotonic() + seconds
        kwargs: dict[str, Any] = {"params": params or None, "timeout": min(self.policy.timeout, seconds),
                                  "follow_redirects": False, "headers": headers, **payload}
        with self.client.stream(method, url, **kwargs) as response:
            content = responses.read_body(response, deadline=deadline, clock=time.monotonic, seconds=seconds)
        log.debug("%s %s -> %s", method, redact_url(response.request.url), response.status_code)
        return response, content

    def _delay(self, attempt: int, server_delay: float | None) -> float:
        """The larger of our backoff and what the server asked for, capped."""
        delay = max(self.policy.backoff(attempt - 1, self.random), server_delay or 0.0)
        return min(delay, self.policy.max_delay)

    def _wait(self, attempt: int, error: ApiError, delay: float) -> None:
        log.info("retrying in %.1fs after attempt %d: %s", delay, attempt, error)
        self.sleep(delay)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """`Retry-After` as seconds from `now`: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return max(0.0, when.timestamp() - now)


def _server_delay(response: httpx.Response, error: ApiError, clock: Callable[[], float]) -> float | None:
    """What the server asked for: google.rpc.RetryInfo when the error carries it (the API's own field, to the
    nanosecond), else Retry-After (whole seconds: a header rounds 20 ms up to 1 s)."""
    for delay in (getattr(error, "retry_delay", None), parse_retry_after(response.headers.get("retry-after"), clock())):
        if delay is not None and math.isfinite(delay):
            return max(0.0, delay)
    return None


def transport_detail(exc: httpx.TransportError) -> str:
    """What a transport failure says, without any credential the request carried."""
    return scrub(str(exc) or type(exc).__name__, request_secrets(exc.request) if _has_request(exc) else [])


def _transport_error(exc: httpx.TransportError, method: str, url: str) -> TransportError:
    detail = transport_detail(exc)
    return TransportError(f"no answer ({type(exc).__name__}: {detail}); the outcome is unknown",
                          method=method, url=redact_url(url))


def _has_request(exc: httpx.TransportError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when httpx did not attach one
    except RuntimeError:
        return False
    return True


def poll_operation(get: Callable[[str], dict], operation: dict, *, timeout: float | None = None,
                   sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                   initial_delay: float = 1.0, max_delay: float = 30.0, progress_every: float = 60.0) -> dict:
    """Poll `get(name)` until the operation is done, with backoff (1 s growing to `max_delay`) and for as long as it
    takes (real undeploys and deletes take minutes) unless `timeout` is given; its error, if any, raised as a typed
    ApiError. Progress is logged every `progress_every` seconds. Nothing is lost by stopping: the resources say
    where they are, and the next run carries on from there."""
    started = clock()
    deadline, delay, told = (None if timeout is None else started + timeout), initial_delay, started
    operation = responses.operation(operation)
    while not operation.get("done"):
        remaining = None if deadline is None else deadline - clock()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded(f"operation {operation.get('name')} not done after {timeout:g}s")
        sleep(delay if remaining is None else min(delay, remaining))
        delay = min(delay * 1.5, max_delay)
        operation = responses.operation(get(operation["name"]))
        if clock() - told >= progress_every:
            told = clock()
            log.warning("still waiting for operation %s (%.0fs so far)", operation.get("name"), told - started)
    if operation.get("error") is not None:
        raise error_from_status(operation["error"], method="OPERATION", url=operation.get("name", ""))
    return operation
