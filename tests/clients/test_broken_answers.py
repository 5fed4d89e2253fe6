"""A success that is not one: every class of broken answer becomes a typed BadResponse (or DeadlineExceeded), and
no URL in any message shows a password, a token or an API key."""

from __future__ import annotations

import time

import httpx
import pytest

from reconciler.clients import responses
from reconciler.clients.auth import resolve_endpoint
from reconciler.clients.http import RetryPolicy, Session, poll_operation
from reconciler.clients.redact import redact_text, redact_url
from reconciler.errors import (ApiError, BadResponse, DeadlineExceeded, NotFound, ResponseTooLarge, TransportError,
                               UserError)

URL = "http://user:S3cretPass@api.test/v1/projects/p/locations/l/tuningJobs?key=AIza-secret&pageSize=2"
SECRETS = ("S3cretPass", "AIza-secret")
JSON = {"content-type": "application/json"}


def session(handler, policy: RetryPolicy | None = None) -> tuple[Session, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)
    sleeps: list[float] = []
    return Session(httpx.Client(transport=httpx.MockTransport(answer)), policy=policy, sleep=sleeps.append,
                   random=lambda: 1.0), seen


BROKEN = {
    "json error body": (httpx.Response(200, json={"error": {"code": 500, "message": "exploded"}}),
                        "an error in a success answer: 'exploded'"),
    "empty 200": (httpx.Response(200, headers=JSON), "an empty body"),
    "302 without body": (httpx.Response(302, headers={"location": "http://u:pw@elsewhere.test/?key=AIza-secret"}),
                         "a redirect to http://[REDACTED]@elsewhere.test/;"),
    "307 without body": (httpx.Response(307), "a redirect; redirects are not followed"),
    "text/html 200": (httpx.Response(200, text="<html>sign in</html>", headers={"content-type": "text/html"}),
                      "content type 'text/html', not application/json"),
    "no content type": (httpx.Response(200, content=b"{}"), "content type 'none'"),
    "truncated json": (httpx.Response(200, content=b'{"tuningJobs": [{"na', headers=JSON), "not JSON (20 bytes)"),
    "a json array": (httpx.Response(200, json=[{"name": "x"}]), "a JSON list, not an object"),
    "NaN": (httpx.Response(200, content=b'{"x": NaN}', headers=JSON), "not JSON"),
    "not utf-8": (httpx.Response(200, content=b'{"x": "\xff"}', headers=JSON), "not JSON"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("idempotent", [True, False], ids=["read", "create"])
def test_a_broken_success_is_a_bad_response_sent_once(case, idempotent):
    response, message = BROKEN[case]
    http, seen = session(lambda request: response)
    with pytest.raises(BadResponse) as caught:
        http.call("POST" if not idempotent else "GET", URL, idempotent=idempotent)
    assert message in str(caught.value)
    assert caught.value.exit_code == 1 and caught.value.http_status == response.status_code
    assert len(seen) == 1  # never retried, never redirected
    assert not any(secret in str(caught.value) for secret in SECRETS)
    assert caught.value.url.startswith("http://[REDACTED]@api.test/v1/projects/p/locations/l/tuningJobs")


def test_a_success_that_echoes_the_request_credential_never_shows_it():
    def echo(request: httpx.Request) -> httpx.Response:
        said = f"bad key {request.headers['x-goog-api-key']}"
        return httpx.Response(200, json={"error": {"code": 400, "message": said}})
    from reconciler.clients.auth import ApiKey

    http = Session(httpx.Client(transport=httpx.MockTransport(echo), auth=ApiKey("AIzaEchoedSecret42")))
    with pytest.raises(BadResponse) as caught:
        http.call("GET", URL, idempotent=True)
    assert "AIzaEchoedSecret42" not in str(caught.value) and "bad key [REDACTED]" in str(caught.value)


@pytest.mark.parametrize(("page", "message"), [
    ({"tuningJobs": {"name": "x"}}, "'tuningJobs' is not a list of objects"),
    ({"tuningJobs": ["x"]}, "'tuningJobs' is not a list of objects"),
    ({"tuningJobs": [], "nextPageToken": 7}, "nextPageToken is a int, not a string"),
])
def test_a_listing_page_of_the_wrong_shape_is_a_bad_response(page, message):
    http, _ = session(lambda request: httpx.Response(200, json=page))
    with pytest.raises(BadResponse, match=message):
        list(http.pages(URL, "tuningJobs"))


def test_a_body_past_the_cap_is_refused_while_streaming(monkeypatch):
    monkeypatch.setattr(responses, "MAX_RESPONSE_BYTES", 1000)
    sent = []

    def endless():
        for _ in range(10_000):
            sent.append(1)
            yield b" " * 100
    http, _ = session(lambda request: httpx.Response(200, headers=JSON, content=endless()))
    with pytest.raises(ResponseTooLarge, match="kept streaming past the 0.000953674 MiB cap"):
        http.call("GET", URL, idempotent=True)
    assert len(sent) <= 12  # stopped reading at the cap, not at the end


def test_a_declared_length_past_the_cap_is_refused_before_reading(monkeypatch):
    monkeypatch.setattr(responses, "MAX_RESPONSE_BYTES", 1000)
    http, _ = session(lambda request: httpx.Response(200, headers={**JSON, "content-length": "400000000"},
                                                     content=iter([b"{}"])))
    with pytest.raises(ResponseTooLarge, match="declares 400000000 bytes"):
        http.call("GET", URL, idempotent=True)


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_body_dripping_in_past_the_deadline_is_deadline_exceeded_not_retried(idempotent):
    def drip():
        for byte in b'{"name": "projects/p/locations/l/tuningJobs/1"}':
            time.sleep(0.02)
            yield bytes([byte])
    http, seen = session(lambda request: httpx.Response(200, headers=JSON, content=drip()),
                         policy=RetryPolicy(deadline=0.1))
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="took longer than 0.1s") as caught:
        http.call("GET", URL, idempotent=idempotent)
    assert time.monotonic() - started < 1.0 and len(seen) == 1
    assert not any(secret in str(caught.value) for secret in SECRETS)


def test_a_healthy_answer_within_the_deadline_and_cap_is_decoded():
    http, _ = session(lambda request: httpx.Response(200, json={"name": "n"}), policy=RetryPolicy(deadline=5))
    assert http.call("GET", URL, idempotent=True) == {"name": "n"}


def test_error_answers_keep_their_types_and_lose_their_secrets():
    body = {"error": {"code": 404, "status": "NOT_FOUND", "message": "no job at http://user:S3cretPass@api.test/"}}
    http, _ = session(lambda request: httpx.Response(404, json=body))
    with pytest.raises(NotFound) as caught:
        http.call("GET", URL, idempotent=True)
    assert not any(secret in str(caught.value) for secret in SECRETS)


def test_a_transport_error_names_the_url_without_its_userinfo():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)
    http, _ = session(refuse, policy=RetryPolicy(max_attempts=1))
    with pytest.raises(TransportError) as caught:
        http.call("GET", URL, idempotent=True)
    assert not any(secret in str(caught.value) for secret in SECRETS), str(caught.value)


@pytest.mark.parametrize("operation", [
    {"done": "yes", "name": "operations/1"}, {"done": False}, {"done": True, "error": "boom"}, ["x"],
    {"name": 3, "done": False},
])
def test_an_operation_of_the_wrong_shape_is_a_bad_response(operation):
    with pytest.raises(BadResponse):
        poll_operation(lambda name: {"done": True}, operation, timeout=1, sleep=lambda s: None)


def test_endpoint_validation_never_echoes_a_password():
    with pytest.raises(UserError) as caught:
        resolve_endpoint("ftp://admin:hunter22@host:21", {})
    assert "hunter22" not in str(caught.value) and "[REDACTED]@host" in str(caught.value)
    with pytest.raises(UserError):
        resolve_endpoint("http://admin:hunter22@host:99999", {})
    assert resolve_endpoint("http://u:p@127.0.0.1:8080/", {}) == "http://u:p@127.0.0.1:8080"


def test_redaction_of_urls_and_text():
    assert redact_url(URL) == "http://[REDACTED]@api.test/v1/projects/p/locations/l/tuningJobs?pageSize=2"
    assert redact_url("http://[::1") == "http://[::1"
    text = "failed: https://me:pw@h.test/x?access_token=ya29.abc&y=1 and http://h/?key=AIza"
    assert redact_text(text) == ("failed: https://[REDACTED]@h.test/x?access_token=[REDACTED]&y=1 "
                                 "and http://h/?key=[REDACTED]")
    assert redact_url("https://h.test/v1/projects/p/models/m@2") == "https://h.test/v1/projects/p/models/m@2"


def test_every_bad_response_is_an_api_error_with_exit_code_1():
    assert issubclass(ResponseTooLarge, BadResponse) and issubclass(BadResponse, ApiError)
    assert BadResponse("x").exit_code == 1


def test_a_resource_with_its_own_error_field_is_a_success_not_an_envelope():
    failed_job = {"name": "projects/p/locations/l/tuningJobs/1", "state": "JOB_STATE_FAILED",
                  "error": {"code": 3, "message": "bad dataset"}}
    http, _ = session(lambda request: httpx.Response(200, json=failed_job))
    assert http.call("GET", URL, idempotent=True) == failed_job


def test_a_failed_operation_read_through_the_session_raises_its_own_typed_error():
    answers = iter([{"name": "operations/1", "done": False},
                    {"name": "operations/1", "done": True, "error": {"code": 9, "message": "still deployed"}}])
    http, _ = session(lambda request: httpx.Response(200, json=next(answers)))
    with pytest.raises(ApiError) as caught:
        poll_operation(lambda name: http.call("GET", URL, idempotent=True),
                       http.call("GET", URL, idempotent=True), timeout=5, sleep=lambda s: None)
    assert type(caught.value).__name__ == "FailedPrecondition" and "still deployed" in str(caught.value)
