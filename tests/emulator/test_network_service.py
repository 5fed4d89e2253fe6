"""The emulator as a network service (issue 12 §5): the warning on a non-loopback bind, the admin surface closed
to web pages (JSON bodies only, no cross-origin or rebound-DNS calls, side-effect-free GETs), credentials kept
out of the request log, and the cap on request bodies. Bounds on numeric inputs: test_numeric_bounds.py."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from emulator_api import PARENT, assert_error
from reconciler.emulator import Emulator
from reconciler.emulator.limits import MAX_BODY_BYTES, is_loopback
from reconciler.emulator.redact import redact_body, redact_query

VERTEX = {"Authorization": "Bearer test-token"}


# ---------------------------------------------------------------------------------------------- 1. warn on binding

def test_a_non_loopback_bind_warns_on_stderr(spawn_emulator):
    child = spawn_emulator("--host", "0.0.0.0")
    warning = child.stderr()
    assert "WARNING" in warning and "0.0.0.0" in warning and "not a loopback address" in warning, warning
    assert "/__emulator__/" in warning and "no authentication" in warning
    assert httpx.get(child.base_url + "/__emulator__/health").json() == {"status": "ok"}   # it still serves
    assert child.stop() == 0


def test_a_loopback_bind_says_nothing(spawn_emulator):
    child = spawn_emulator("--host", "127.0.0.1")
    assert httpx.get(child.base_url + "/__emulator__/health").status_code == 200
    assert child.stderr() == ""
    assert child.stop() == 0


def test_the_in_process_emulator_warns_too(capsys):
    with Emulator(host="0.0.0.0"):
        pass
    assert "not a loopback address" in capsys.readouterr().err
    with Emulator(host="localhost"):
        pass
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("LocalHost", True), ("::ffff:127.0.0.1", True),
    ("0.0.0.0", False), ("", False), ("::", False), ("192.168.1.10", False), ("10.0.0.1", False),
    ("example.com", False), ("128.0.0.1", False),
])
def test_what_counts_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


# ---------------------------------------------------------------------------------------------- 2. cross-site requests

def state_of(emu: Emulator, http: httpx.Client) -> tuple:
    """Everything an admin call could change: clock, faults, request log, resources."""
    jobs = http.get(f"/v1/{PARENT}/tuningJobs", headers=VERTEX).json()   # logged, so read the log first
    return (http.get("/__emulator__/clock").json()["offsetSeconds"], emu.service.faults.describe(),
            len(emu.requests()), json.dumps(jobs, sort_keys=True))


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          None])
def test_admin_bodies_must_be_declared_json(api, emulator, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    before = state_of(emulator, api.http)
    for method, route, body in [("POST", "clock:advance", {"seconds": 5}), ("POST", "faults", [{"status": 503}]),
                                ("POST", "reset", {}), ("DELETE", "faults", {})]:
        response = api.http.request(method, f"/__emulator__/{route}", content=json.dumps(body), headers=headers)
        error = assert_error(response, 415, "INVALID_ARGUMENT")
        assert "Content-Type: application/json" in error["message"]
        assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert state_of(emulator, api.http)[:2] == before[:2]                  # clock and faults untouched


def test_legitimate_admin_calls_still_work(api, emulator):
    assert api.admin("POST", "clock:advance", {"seconds": 5}).status_code == 200           # httpx json=
    response = api.http.post("/__emulator__/clock:advance", content=b'{"seconds": 5}',
                             headers={"Content-Type": "Application/JSON; charset=utf-8"})
    assert response.status_code == 200 and response.json()["offsetSeconds"] == 10
    assert api.http.post("/__emulator__/reset").status_code == 200                          # no body at all
    same_origin = {"Origin": emulator.base_url, "Content-Type": "application/json"}
    assert api.http.post("/__emulator__/faults", content=b"[]", headers=same_origin).status_code == 200
    with httpx.Client(base_url=emulator.base_url.replace("127.0.0.1", "localhost")) as http:
        assert http.get("/__emulator__/health").status_code == 200


def test_cross_origin_and_rebound_admin_calls_are_refused(api, emulator):
    api.create_job()
    before = state_of(emulator, api.http)
    # A page's fetch(..., {method: "POST", mode: "no-cors"}) has no body but does carry its Origin.
    for origin in ("http://evil.example", "null", emulator.base_url + ".evil.example"):
        response = api.http.post("/__emulator__/reset", headers={"Origin": origin})
        assert "Cross-origin" in assert_error(response, 403, "PERMISSION_DENIED")["message"]
    # DNS rebinding: a page's own name resolved to 127.0.0.1 (same origin for the browser, wrong Host for us).
    port = emulator.base_url.rsplit(":", 1)[1]
    for method in ("GET", "POST"):
        response = api.http.request(method, "/__emulator__/reset" if method == "POST" else "/__emulator__/requests",
                                    headers={"Host": f"attacker.example:{port}"})
        assert_error(response, 403, "PERMISSION_DENIED")
    assert state_of(emulator, api.http)[:2] == before[:2] and before[3] == state_of(emulator, api.http)[3]
    # The APIs themselves are not affected by either check.
    assert api.vertex("GET", "tuningJobs", headers={"Origin": "http://evil.example"}).status_code == 200


def test_admin_gets_have_no_side_effects(api, emulator):
    job = api.create_job()
    api.admin("POST", "faults", [{"path": "/nowhere", "status": 503}])
    api.admin("POST", "clock:advance", {"seconds": 30})
    before = state_of(emulator, api.http)
    for route in ("health", "clock", "requests", "faults"):
        assert api.admin("GET", route).status_code == 200
    for route in ("reset", "clock:advance", "resources:fail", "resources:delete", "resources:patch",
                  "resources:ignoreCancel", "tuningJobs:fail", "labels:set", f"resources:fail?name={job['name']}"):
        assert_error(api.http.get(f"/__emulator__/{route}"), 404, "NOT_FOUND")
    response = api.http.options("/__emulator__/reset", headers={"Origin": "http://evil.example",
                                                                 "Access-Control-Request-Method": "POST"})
    assert response.status_code in (403, 404) and "access-control-allow-origin" not in response.headers
    after = state_of(emulator, api.http)
    assert after[0] == before[0] and after[1] == before[1] and after[3] == before[3]
    assert after[2] == before[2] + 1                        # only state_of's own logged API call


# ---------------------------------------------------------------------------------------------- 3. secrets in the log

SECRETS = ("s3cret-api-key", "s3cret-access-token", "s3cret-bearer", "s3cret-header-key", "s3cret-oauth",
           "s3cret-sig", "s3cret-encoded")


def test_credentials_never_reach_the_request_log(api, emulator):
    api.http.get("/v1beta/tunedModels", params={"key": SECRETS[0], "pageSize": 5})
    api.http.get(f"/v1/{PARENT}/tuningJobs", params={"access_token": SECRETS[1], "pageSize": 2})
    api.http.get(f"/v1/{PARENT}/tuningJobs", headers={"Authorization": f"Bearer {SECRETS[2]}"})
    api.http.get("/v1beta/tunedModels", headers={"x-goog-api-key": SECRETS[3]})
    api.http.get(f"/v1/{PARENT}/tuningJobs?oauth_token={SECRETS[4]}&X-Goog-Signature={SECRETS[5]}",
                 headers=VERTEX)
    api.http.get(f"/v1beta/tunedModels?%6Bey={SECRETS[6]}")                   # "key", percent-encoded
    text = api.admin("GET", "requests").text
    assert not [secret for secret in SECRETS if secret in text], text
    queries = [entry["query"] for entry in api.admin("GET", "requests").json()["requests"]]
    assert queries == ["key=REDACTED&pageSize=5", "access_token=REDACTED&pageSize=2", "", "",
                       "oauth_token=REDACTED&X-Goog-Signature=REDACTED", "key=REDACTED"]
    # The calls themselves are answered as before (X-Goog-Signature is no parameter of this method: 400).
    assert [e["status"] for e in emulator.requests()] == [200, 200, 200, 200, 400, 200]


def test_redaction_rules():
    assert redact_query("pageToken=abc&apiKey=k&%24key=v&token=t&filter=labels.key%3Dx") == \
        "pageToken=abc&apiKey=REDACTED&$key=REDACTED&token=REDACTED&filter=labels.key=x"
    assert redact_query("") == "" and redact_query("key") == "key"
    body = {"name": "n", "apiKey": "x", "nested": [{"accessToken": "t", "nextPageToken": "p"}],
            "labels": {"key": "a label, not a credential"}, "clientSecret": ""}
    assert redact_body(body) == {"name": "n", "apiKey": "REDACTED", "nested": [{"accessToken": "REDACTED",
                                 "nextPageToken": "p"}], "labels": {"key": "a label, not a credential"},
                                 "clientSecret": ""}


# ---------------------------------------------------------------------------------------------- 4. body size

def raw_exchange(emu: Emulator, head: str, body: bytes = b"", *, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send a raw request head (+ body) and read the whole answer until the server closes: (status, body)."""
    host, port = emu.base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode("latin-1") + b"\r\n" + body)
        received = b""
        while b"\r\n\r\n" not in received or len(received.partition(b"\r\n\r\n")[2]) < _length(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _length(received: bytes) -> int:
    for line in received.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def post_head(length: str, *extra: str) -> str:
    return "\n".join([f"POST /v1beta/tunedModels?key=k HTTP/1.1", "Host: 127.0.0.1",
                      "Content-Type: application/json", f"Content-Length: {length}", *extra, ""])


def test_an_oversized_body_is_refused_unread(emulator):
    for head in (post_head("1500000000"), post_head(str(MAX_BODY_BYTES + 1)),
                 post_head("1500000000", "Expect: 100-continue")):         # 413 instead of "100 Continue"
        status, body = raw_exchange(emulator, head)                          # no body sent: not waited for
        assert status == 413
        error = json.loads(body)["error"]
        assert error["code"] == 413 and error["status"] == "INVALID_ARGUMENT" and "32 MiB" in error["message"]
    assert emulator.requests() == []
    assert httpx.get(emulator.base_url + "/v1beta/tunedModels", params={"key": "k"}).status_code == 200


@pytest.mark.parametrize("length", ["-5", "abc", "1e9", "", "5, 5", "0x10"])
def test_a_bogus_content_length_is_400(emulator, length):
    status, body = raw_exchange(emulator, post_head(length), b"{}")
    error = json.loads(body)["error"]
    assert status == 400 and error["status"] == "INVALID_ARGUMENT" and "Content-Length" in error["message"]
    assert emulator.requests() == []                                       # refused before any API call


def test_chunked_bodies_are_capped_too(emulator):
    head = "\n".join(["POST /v1beta/tunedModels?key=k HTTP/1.1", "Host: 127.0.0.1",
                      "Content-Type: application/json", "Transfer-Encoding: chunked", ""])
    status, _ = raw_exchange(emulator, head, f"{MAX_BODY_BYTES + 1:x}\r\n".encode())
    assert status == 413
    status, _ = raw_exchange(emulator, head, b"zz\r\n{}\r\n0\r\n\r\n")
    assert status == 400
    chunks = [json.dumps({"seconds": 7}).encode()]
    response = httpx.post(emulator.base_url + "/__emulator__/clock:advance", content=iter(chunks),
                          headers={"Content-Type": "application/json"})          # a legitimate chunked body
    assert response.status_code == 200 and response.json()["offsetSeconds"] == 7
