"""The shared HTTP policy, driven by tables of canned responses (httpx.MockTransport)."""

from __future__ import annotations

import email.utils
import json
import logging

import httpx
import pytest

from reconciler.clients.http import RateLimiter, RetryPolicy, Session, poll_operation
from reconciler.clients.rpc import error_from_status
from reconciler.errors import (Aborted, AlreadyExists, ApiError, BadResponse, DeadlineExceeded, FailedPrecondition, Internal,
                               InvalidArgument, NotFound, PermissionDenied, ResourceExhausted, TransportError,
                               Unauthenticated, Unavailable)
from tests.testing.clock import FakeClock

URL = "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/tuningJobs"
NOW = 1_800_000_000.0


def rpc_error(code: int, status: str, message: str = "boom", details: list | None = None,
              headers: dict | None = None) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "status": status, "details": details or []}}
    return httpx.Response(code, json=body, headers=headers)


class Script:
    """Answers requests from a list, in order (a Response, an exception to raise, or a callable)."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request) if callable(answer) else answer


def session(script: Script, *, jitter: float = 1.0, limiter: RateLimiter | None = None,
            policy: RetryPolicy | None = None, **client_kwargs) -> tuple[Session, list[float]]:
    sleeps: list[float] = []
    client = httpx.Client(transport=httpx.MockTransport(script), **client_kwargs)
    return Session(client, policy=policy, limiter=limiter, sleep=sleeps.append, random=lambda: jitter,
                   clock=lambda: NOW), sleeps


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH", "POST"])
def test_idempotent_calls_are_retried_on_transient_statuses(status, method):
    script = Script(rpc_error(status, "UNAVAILABLE"), httpx.Response(200, json={"ok": True}))
    http, sleeps = session(script)
    assert http.call(method, URL, idempotent=True) == {"ok": True}
    assert len(script.requests) == 2 and sleeps == [1.0]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_create_is_never_retried_on_an_answer(status):
    script = Script(rpc_error(status, "UNAVAILABLE"), httpx.Response(200, json={}))
    http, sleeps = session(script)
    with pytest.raises(ApiError) as caught:
        http.call("POST", URL, body={"baseModel": "m"}, idempotent=False)
    assert caught.value.http_status == status
    assert len(script.requests) == 1 and sleeps == []


@pytest.mark.parametrize("failure", [httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("dropped"),
                                     httpx.ReadError("reset"), httpx.WriteError("broken pipe")])
def test_a_create_without_an_answer_surfaces_transport_error_once(failure):
    script = Script(failure, httpx.Response(200, json={}))
    http, sleeps = session(script)
    with pytest.raises(TransportError) as caught:
        http.call("POST", URL, body={}, idempotent=False)
    assert "outcome is unknown" in str(caught.value) and caught.value.method == "POST"
    assert len(script.requests) == 1 and sleeps == []


def test_a_create_whose_connection_never_opened_is_retried():
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json={"name": "j"}))
    http, _ = session(script)
    assert http.call("POST", URL, body={}, idempotent=False) == {"name": "j"}
    assert len(script.requests) == 2


def test_transport_errors_are_retried_for_idempotent_calls():
    script = Script(httpx.ReadTimeout("t"), httpx.RemoteProtocolError("x"), httpx.Response(200, json={}))
    http, sleeps = session(script)
    assert http.call("GET", URL, idempotent=True) == {}
    assert len(script.requests) == 3 and sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_client_errors_are_not_retried(status):
    script = Script(rpc_error(status, "NOT_FOUND"))
    http, sleeps = session(script)
    with pytest.raises(ApiError):
        http.call("GET", URL, idempotent=True)
    assert len(script.requests) == 1 and sleeps == []


def test_attempts_are_bounded_and_backoff_is_exponential_with_a_ceiling():
    script = Script(rpc_error(503, "UNAVAILABLE"))
    policy = RetryPolicy(max_attempts=6, initial_delay=1.0, multiplier=2.0, max_backoff=5.0)
    http, sleeps = session(script, policy=policy)
    with pytest.raises(Unavailable):
        http.call("GET", URL, idempotent=True)
    assert len(script.requests) == 6
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_backoff_has_full_jitter():
    script = Script(rpc_error(503, "UNAVAILABLE"), httpx.Response(200, json={}))
    http, sleeps = session(script, jitter=0.25)
    http.call("GET", URL, idempotent=True)
    assert sleeps == [0.25]


def test_retry_after_seconds():
    script = Script(rpc_error(429, "RESOURCE_EXHAUSTED", headers={"Retry-After": "7"}), httpx.Response(200, json={}))
    http, sleeps = session(script)
    http.call("GET", URL, idempotent=True)
    assert sleeps == [7.0]


def test_retry_after_http_date():
    when = email.utils.formatdate(NOW + 20, usegmt=True)
    script = Script(rpc_error(503, "UNAVAILABLE", headers={"Retry-After": when}), httpx.Response(200, json={}))
    http, sleeps = session(script)
    http.call("GET", URL, idempotent=True)
    assert sleeps == [20.0]


@pytest.mark.parametrize(("retry_delay", "expected"), [("3.5s", 3.5), ("0.1s", 1.0), ({"seconds": 2, "nanos": 500_000_000}, 2.5)])
def test_retry_info_and_backoff_the_larger_wins(retry_delay, expected):
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}]
    script = Script(rpc_error(429, "RESOURCE_EXHAUSTED", details=details), httpx.Response(200, json={}))
    http, sleeps = session(script)
    http.call("GET", URL, idempotent=True)
    assert sleeps == [expected]


def test_server_delay_is_capped():
    script = Script(rpc_error(429, "RESOURCE_EXHAUSTED", headers={"Retry-After": "3600"}),
                    httpx.Response(200, json={}))
    http, sleeps = session(script, policy=RetryPolicy(max_delay=30.0))
    http.call("GET", URL, idempotent=True)
    assert sleeps == [30.0]


def test_the_final_error_carries_the_servers_retry_delay():
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}]
    script = Script(rpc_error(429, "RESOURCE_EXHAUSTED", details=details))
    http, _ = session(script)
    with pytest.raises(ResourceExhausted) as caught:
        http.call("POST", URL, idempotent=False)
    assert caught.value.retry_delay == 12.0


ERROR_TABLE = [
    (400, "INVALID_ARGUMENT", InvalidArgument),
    (400, "FAILED_PRECONDITION", FailedPrecondition),
    (401, "UNAUTHENTICATED", Unauthenticated),
    (403, "PERMISSION_DENIED", PermissionDenied),
    (404, "NOT_FOUND", NotFound),
    (409, "ALREADY_EXISTS", AlreadyExists),
    (409, "ABORTED", Aborted),
    (429, "RESOURCE_EXHAUSTED", ResourceExhausted),
    (500, "INTERNAL", Internal),
    (503, "UNAVAILABLE", Unavailable),
    (504, "DEADLINE_EXCEEDED", DeadlineExceeded),
    (400, "OUT_OF_RANGE", ApiError),
    (501, "UNIMPLEMENTED", ApiError),
    (500, "UNKNOWN", ApiError),
]


@pytest.mark.parametrize(("code", "status", "cls"), ERROR_TABLE)
def test_error_envelope_translation(code, status, cls):
    details = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": "labels", "description": "bad"}]}]
    script = Script(rpc_error(code, status, message="the reason", details=details))
    http, _ = session(script, policy=RetryPolicy(max_attempts=1))
    with pytest.raises(ApiError) as caught:
        http.call("GET", URL, params={"filter": 'labels.a="b"'}, idempotent=True)
    error = caught.value
    assert type(error) is cls
    assert (error.status, error.http_status, error.method, error.api_message) == (status, code, "GET", "the reason")
    assert error.url.startswith(URL) and "filter=" in error.url
    assert error.details == details
    assert str(error) == f"GET {error.url}: {status} ({code}): the reason"


@pytest.mark.parametrize(("code", "cls"), [(400, InvalidArgument), (404, NotFound), (409, AlreadyExists),
                                           (429, ResourceExhausted), (502, Unavailable), (503, Unavailable),
                                           (504, DeadlineExceeded), (418, ApiError)])
def test_non_json_error_bodies_are_classified_by_http_status(code, cls):
    script = Script(httpx.Response(code, text="<html><body><h1>Bad   Gateway</h1></body></html>",
                                   headers={"content-type": "text/html"}))
    http, _ = session(script, policy=RetryPolicy(max_attempts=1))
    with pytest.raises(ApiError) as caught:
        http.call("GET", URL, idempotent=True)
    assert type(caught.value) is cls and caught.value.http_status == code
    assert "non-JSON body" in str(caught.value) and "<h1>Bad Gateway</h1>" in str(caught.value)


def test_an_error_envelope_wrapped_in_a_list_is_understood():
    script = Script(httpx.Response(404, json=[{"error": {"code": 404, "message": "gone", "status": "NOT_FOUND"}}]))
    http, _ = session(script)
    with pytest.raises(NotFound, match="gone"):
        http.call("GET", URL, idempotent=True)


def test_a_success_with_an_empty_body_is_a_bad_response_not_an_empty_object():
    http, _ = session(Script(httpx.Response(200)))
    with pytest.raises(BadResponse, match="an empty body"):
        http.call("DELETE", URL, idempotent=True)


def test_a_success_that_is_not_json_is_a_bad_response():
    http, _ = session(Script(httpx.Response(200, text="<html>captive portal</html>")))
    with pytest.raises(BadResponse, match="not application/json"):
        http.call("GET", URL, idempotent=True)


API_KEY = "AIzaSyDUMMY-secret-key-0123456789"
TOKEN = "ya29.a0-secret-access-token-abcdef"


def _echo_credentials(request: httpx.Request) -> httpx.Response:
    echoed = f"rejected key {request.headers.get('x-goog-api-key')} / {request.headers.get('authorization')} " \
             f"at {request.url}"
    return rpc_error(400, "INVALID_ARGUMENT", message=echoed,
                     details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                               "metadata": {"key": API_KEY, "token": TOKEN}}])


def test_credentials_never_appear_in_errors_or_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="reconciler")
    script = Script(rpc_error(503, "UNAVAILABLE", message=f"busy {TOKEN}"), _echo_credentials)
    http, _ = session(script, headers={"x-goog-api-key": API_KEY, "authorization": f"Bearer {TOKEN}"})
    with pytest.raises(InvalidArgument) as caught:
        http.call("GET", f"{URL}?key={API_KEY}&access_token={TOKEN}&pageSize=5", idempotent=True)
    error = caught.value
    texts = [str(error), repr(error), error.url, error.api_message, json.dumps(error.details), repr(http),
             caplog.text]
    for text in texts:
        assert API_KEY not in text and TOKEN not in text
    assert "pageSize=5" in error.url and "[REDACTED]" in error.api_message
    assert "retrying" in caplog.text  # the retry was logged, without the secret


def test_credentials_never_appear_in_transport_errors():
    script = Script(httpx.ConnectError(f"cannot reach host for {API_KEY}"))
    http, _ = session(script, headers={"x-goog-api-key": API_KEY}, policy=RetryPolicy(max_attempts=2))
    with pytest.raises(TransportError) as caught:
        http.call("GET", f"{URL}?key={API_KEY}", idempotent=True)
    assert API_KEY not in str(caught.value) and API_KEY not in caught.value.url


def _paged(pages: dict[str | None, dict]):
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.params["filter"] == 'labels.managed-by="reconciler"'
        assert request.url.params["pageSize"] == "2"
        return httpx.Response(200, json=pages[request.url.params.get("pageToken")])
    return answer


def test_pages_follows_next_page_token_with_the_same_parameters():
    pages = {None: {"items": [{"n": 1}, {"n": 2}], "nextPageToken": "a"}, "a": {"items": [{"n": 3}, {"n": 4}], "nextPageToken": "b"},
             "b": {"items": [{"n": 5}], "nextPageToken": ""}}
    script = Script(_paged(pages))
    http, _ = session(script)
    items = list(http.pages(URL, "items", {"filter": 'labels.managed-by="reconciler"', "pageSize": 2}))
    assert [i["n"] for i in items] == [1, 2, 3, 4, 5] and len(script.requests) == 3


def test_pages_stops_when_the_token_is_absent_and_tolerates_empty_pages():
    pages = {None: {"nextPageToken": "a"}, "a": {"items": [{"n": 1}]}}
    http, _ = session(Script(_paged(pages)))
    assert list(http.pages(URL, "items", {"filter": 'labels.managed-by="reconciler"', "pageSize": 2})) == [{"n": 1}]


def test_pages_refuses_a_repeated_token():
    pages = {None: {"items": [{"n": 1}], "nextPageToken": "a"}, "a": {"items": [{"n": 2}], "nextPageToken": "a"}}
    http, _ = session(Script(_paged(pages)))
    with pytest.raises(ApiError, match="repeated a page token"):
        list(http.pages(URL, "items", {"filter": 'labels.managed-by="reconciler"', "pageSize": 2}))


def test_rate_limiter_is_a_token_bucket():
    clock = FakeClock(100.0)
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()
    assert clock.sleeps == [0.5]


def test_a_429_pauses_every_user_of_a_shared_limiter():
    clock = FakeClock(100.0)
    limiter = RateLimiter(rate=100.0, burst=100, clock=clock, sleep=clock.sleep)
    throttled = Script(rpc_error(429, "RESOURCE_EXHAUSTED", headers={"Retry-After": "9"}))
    first = Session(httpx.Client(transport=httpx.MockTransport(throttled)), limiter=limiter,
                    sleep=clock.sleep, random=lambda: 0.0)
    with pytest.raises(ResourceExhausted):
        first.call("POST", URL, idempotent=False)  # not retried, but the throttling still counts
    assert clock.sleeps == []
    # The other worker's next call waits out what is left of the server's Retry-After.
    other = Session(httpx.Client(transport=httpx.MockTransport(Script(httpx.Response(200, json={})))),
                    limiter=limiter, sleep=clock.sleep)
    other.call("GET", URL, idempotent=True)
    assert clock.sleeps == [pytest.approx(9.0)]


@pytest.mark.parametrize("headers, retry_delay, paused", [
    ({"Retry-After": "1"}, "0.02s", 0.02),  # RetryInfo, to the millisecond, over the header's whole second
    ({"Retry-After": "2"}, None, 2.0),
    ({}, "0.5s", 0.5),
    ({}, None, 0.75),                       # nothing asked: our backoff (full jitter at 0.75 of 1 s)
])
def test_a_429_pauses_its_quota_bucket_for_what_the_server_asked(headers, retry_delay, paused):
    clock = FakeClock(100.0)
    limiter = RateLimiter(rate=100.0, burst=100, clock=clock, sleep=clock.sleep)
    details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}] if retry_delay else []
    throttled = Script(rpc_error(429, "RESOURCE_EXHAUSTED", headers=headers, details=details))
    first = Session(httpx.Client(transport=httpx.MockTransport(throttled)), limiter=limiter,
                    sleep=clock.sleep, random=lambda: 0.75)
    with pytest.raises(ResourceExhausted):
        first.call("POST", URL, idempotent=False)
    other = Session(httpx.Client(transport=httpx.MockTransport(Script(httpx.Response(200, json={})))),
                    limiter=limiter, sleep=clock.sleep)
    other.call("GET", URL, idempotent=True)
    assert clock.sleeps == [pytest.approx(paused)]


def test_operation_errors_are_translated():
    error = error_from_status({"code": 9, "message": "still deployed", "details": []})
    assert isinstance(error, FailedPrecondition) and error.api_message == "still deployed"
    assert error_from_status({"code": 1, "message": "cancelled"}).status == "CANCELLED"


def test_poll_operation_until_done_and_raise_its_error():
    clock = FakeClock(100.0)
    answers = iter([{"name": "op", "done": False}, {"name": "op", "done": True, "error": {"code": 5, "message": "x"}}])
    with pytest.raises(NotFound):
        poll_operation(lambda name: next(answers), {"name": "op"}, timeout=60, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [1.0, 1.5]


def test_poll_operation_gives_up_at_the_timeout():
    clock = FakeClock(100.0)
    with pytest.raises(DeadlineExceeded, match="not done after 5s"):
        poll_operation(lambda name: {"name": name, "done": False}, {"name": "op"}, timeout=5,
                       sleep=clock.sleep, clock=clock)


@pytest.mark.parametrize("env, deadline, operation_poll", [
    ({}, 60.0, 1.0),
    ({"RECONCILER_POLL_INTERVAL": "0.1"}, 60.0, 0.1),       # the tests' and the demo's pace: operations too
    ({"RECONCILER_POLL_INTERVAL": "5"}, 60.0, 1.0),         # jobs polled slowly: operations keep theirs
    ({"RECONCILER_POLL_INTERVAL": "0"}, 60.0, 1.0),
    ({"RECONCILER_POLL_INTERVAL": "soon"}, 60.0, 1.0),      # `wait` reports it; nothing else fails on it
    ({"RECONCILER_POLL_INTERVAL": "0.2", "RECONCILER_REQUEST_DEADLINE": "7"}, 7.0, 0.2),
])
def test_the_request_policy_from_the_environment(env, deadline, operation_poll):
    from reconciler.platforms.connect import request_policy

    policy = request_policy(env)
    assert (policy.deadline, policy.operation_poll) == (deadline, operation_poll)


def test_a_clients_operations_are_first_read_again_after_the_policys_operation_poll():
    from reconciler.clients.vertex import VertexClient

    name = "projects/p/locations/us-central1/operations/1"
    answers = iter([{"name": name, "done": False}, {"name": name, "done": True}])
    http, sleeps = session(lambda request: httpx.Response(200, json=next(answers)),
                           policy=RetryPolicy(operation_poll=0.1))
    client = VertexClient(None, endpoint="https://vertex.test", session=http)
    assert client.wait_operation({"name": name, "done": False})["done"]
    assert sleeps == [0.1, pytest.approx(0.15)]  # then x1.5, as from 1 s
