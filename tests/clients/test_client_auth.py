"""Credentials as httpx.Auth: static token, API key, google-auth refresh through httpx, the resolver."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs

import google.auth.exceptions
import google.oauth2.credentials
import httpx
import pytest

from reconciler.clients.adc import GoogleCredentials, HttpxRequest
from reconciler.clients.auth import ApiKey, BearerToken, resolve_endpoint
from reconciler.platforms.connect import connect, resolve_auth
from reconciler.platforms.vertex import SCOPES as VERTEX_SCOPES
from reconciler.clients.http import Session
from reconciler.errors import TransportError, Unauthenticated, UserError

TOKEN_URI = "https://oauth2.example.test/token"
API = "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/tuningJobs/1"


class TokenServer:
    """A token endpoint: hands out access-token-1, access-token-2, ... and records the grants."""

    def __init__(self, status: int = 200):
        self.grants: list[dict] = []
        self.status = status

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert str(request.url) == TOKEN_URI and request.method == "POST"
        self.grants.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "invalid_grant", "error_description": "Bad Request"})
        return httpx.Response(200, json={"access_token": f"access-token-{len(self.grants)}", "expires_in": 3600})


class Api:
    """The API side: records headers; answers 401 for tokens listed in `reject`."""

    def __init__(self, reject: tuple[str, ...] = ()):
        self.seen: list[httpx.Headers] = []
        self.reject = reject

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(httpx.Headers(request.headers))  # a copy: auth flows mutate the request
        if request.headers.get("authorization", "").removeprefix("Bearer ") in self.reject:
            return httpx.Response(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED",
                                                       "message": "Request had invalid authentication credentials."}})
        return httpx.Response(200, json={"name": "ok"})


def user_credentials(**kwargs) -> google.oauth2.credentials.Credentials:
    return google.oauth2.credentials.Credentials(
        token=kwargs.pop("token", None), refresh_token="refresh-secret", client_id="client-id",
        client_secret="client-secret", token_uri=TOKEN_URI, scopes=list(VERTEX_SCOPES), **kwargs)


def api_client(auth: httpx.Auth, api: Api) -> httpx.Client:
    return httpx.Client(auth=auth, transport=httpx.MockTransport(api))


def token_client(server: TokenServer) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(server))


def test_static_bearer_token():
    api = Api()
    api_client(BearerToken("tok-123"), api).get(API)
    assert api.seen[0]["authorization"] == "Bearer tok-123"
    assert "tok-123" not in repr(BearerToken("tok-123"))


def test_api_key_goes_in_a_header_not_the_url():
    api = Api()
    response = api_client(ApiKey("AIza-key"), api).get("https://generativelanguage.googleapis.com/v1beta/tunedModels")
    assert api.seen[0]["x-goog-api-key"] == "AIza-key"
    assert "key=" not in str(response.request.url) and "AIza-key" not in repr(ApiKey("AIza-key"))


def test_google_credentials_refresh_through_httpx_and_add_the_quota_project():
    server, api = TokenServer(), Api()
    credentials = user_credentials(quota_project_id="billing-project")
    client = api_client(GoogleCredentials(credentials, token_client(server)), api)
    client.get(API)
    client.get(API)
    assert len(server.grants) == 1 and server.grants[0]["grant_type"] == "refresh_token"
    assert [h["authorization"] for h in api.seen] == ["Bearer access-token-1"] * 2
    assert api.seen[0]["x-goog-user-project"] == "billing-project"


def test_no_quota_project_header_without_a_quota_project():
    server, api = TokenServer(), Api()
    api_client(GoogleCredentials(user_credentials(), token_client(server)), api).get(API)
    assert "x-goog-user-project" not in api.seen[0]


def test_an_expired_token_is_refreshed_before_the_request():
    server, api = TokenServer(), Api()
    expired = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(hours=1)
    credentials = user_credentials(token="stale-token", expiry=expired)
    api_client(GoogleCredentials(credentials, token_client(server)), api).get(API)
    assert len(server.grants) == 1 and api.seen[0]["authorization"] == "Bearer access-token-1"


def test_a_401_refreshes_once_and_retries():
    server, api = TokenServer(), Api(reject=("revoked-token",))
    credentials = user_credentials(token="revoked-token")  # no expiry: looks valid until the server says no
    response = api_client(GoogleCredentials(credentials, token_client(server)), api).get(API)
    assert response.status_code == 200 and len(server.grants) == 1
    assert [h["authorization"] for h in api.seen] == ["Bearer revoked-token", "Bearer access-token-1"]


def test_a_second_401_is_the_callers_unauthenticated_error():
    server, api = TokenServer(), Api(reject=("access-token-1", "access-token-2"))
    client = api_client(GoogleCredentials(user_credentials(), token_client(server)), api)
    with pytest.raises(Unauthenticated) as caught:
        Session(client).call("GET", API, idempotent=True)
    assert len(api.seen) == 2 and len(server.grants) == 2
    assert "access-token" not in str(caught.value)


def test_a_refused_refresh_is_unauthenticated_with_advice_and_no_secrets():
    server, api = TokenServer(status=400), Api()
    client = api_client(GoogleCredentials(user_credentials(), token_client(server)), api)
    with pytest.raises(Unauthenticated) as caught:
        client.get(API)
    message = str(caught.value)
    assert "gcloud auth application-default login" in message and api.seen == []
    assert "refresh-secret" not in message and "client-secret" not in message


def test_an_unreachable_token_endpoint_is_a_transport_error():
    def refuse(request):
        raise httpx.ConnectError("refused")
    client = api_client(GoogleCredentials(user_credentials(), httpx.Client(transport=httpx.MockTransport(refuse))),
                        Api())
    with pytest.raises(TransportError):
        client.get(API)


def test_httpx_request_adapter_speaks_google_auths_interface():
    seen = []

    def answer(request):
        seen.append((request.method, request.headers.get("metadata-flavor"), request.content))
        return httpx.Response(200, content=b"ok", headers={"x-a": "b"})
    adapter = HttpxRequest(httpx.Client(transport=httpx.MockTransport(answer)))
    response = adapter("http://metadata.example/x", method="POST", body=b"data", headers={"Metadata-Flavor": "Google"})
    assert (response.status, response.data, response.headers["x-a"]) == (200, b"ok", "b")
    assert seen == [("POST", "Google", b"data")]

    def refuse(request):
        raise httpx.ConnectTimeout("slow")
    with pytest.raises(google.auth.exceptions.TransportError):
        HttpxRequest(httpx.Client(transport=httpx.MockTransport(refuse)))("http://x")


# --------------------------------------------------------------------------------------------- resolver

def no_adc(**kwargs):
    raise google.auth.exceptions.DefaultCredentialsError("none")


TOKENS = httpx.Client(transport=httpx.MockTransport(TokenServer()))


@pytest.mark.parametrize(("platform", "env", "emulator", "kind", "header"), [
    ("vertex", {"GOOGLE_OAUTH_ACCESS_TOKEN": "env-token"}, False, BearerToken, ("authorization", "Bearer env-token")),
    ("vertex", {}, True, BearerToken, ("authorization", "Bearer emulator-token")),
    ("gemini-api", {"GEMINI_API_KEY": "gem-key"}, False, ApiKey, ("x-goog-api-key", "gem-key")),
    ("gemini-api", {"GEMINI_API_KEY": "gem-key", "GOOGLE_API_KEY": "goo-key"}, False, ApiKey,
     ("x-goog-api-key", "goo-key")),
    ("gemini-api", {"GOOGLE_OAUTH_ACCESS_TOKEN": "env-token"}, False, BearerToken,
     ("authorization", "Bearer env-token")),
    ("gemini-api", {"GEMINI_API_KEY": "gem-key"}, True, ApiKey, ("x-goog-api-key", "emulator-key")),
])
def test_resolver_picks_credentials_from_the_environment(platform, env, emulator, kind, header):
    auth = resolve_auth(platform, token_client=TOKENS, env=env, emulator=emulator, adc=no_adc)
    assert type(auth) is kind
    api = Api()
    api_client(auth, api).get(API)
    assert api.seen[0][header[0]] == header[1]


def test_a_token_or_a_key_needs_no_google_auth_imported():
    """google-auth is imported for Application Default Credentials only (clients.adc): a tenth of a CLI run."""
    probe = ("import sys, httpx; from reconciler.platforms.connect import resolve_auth; "
             "client = httpx.Client(); "
             "resolve_auth('vertex', token_client=client, env={'GOOGLE_OAUTH_ACCESS_TOKEN': 't'}); "
             "resolve_auth('gemini-api', token_client=client, env={'GEMINI_API_KEY': 'k'}); "
             "print('google.auth' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2]).stdout.split() == ["False"]


def test_resolver_falls_back_to_application_default_credentials():
    calls = []

    def adc(**kwargs):
        calls.append(kwargs)
        return user_credentials(), "adc-project"
    auth = resolve_auth("vertex", token_client=TOKENS, env={}, adc=adc)
    assert isinstance(auth, GoogleCredentials)
    assert calls[0]["scopes"] == list(VERTEX_SCOPES) and isinstance(calls[0]["request"], HttpxRequest)


@pytest.mark.parametrize(("platform", "advice"), [
    ("vertex", "no credentials for Vertex AI: run `gcloud auth application-default login`, "
               "or set GOOGLE_OAUTH_ACCESS_TOKEN, or use --emulator"),
    ("gemini-api", "no credentials for the Gemini API: set GEMINI_API_KEY"),
])
def test_resolver_says_what_to_do_when_nothing_is_found(platform, advice):
    with pytest.raises(UserError) as caught:
        resolve_auth(platform, token_client=TOKENS, env={}, adc=no_adc)
    assert advice in str(caught.value)


def test_endpoint_override_flag_wins_over_environment():
    env = {"RECONCILER_API_ENDPOINT": "http://127.0.0.1:9000/"}
    assert resolve_endpoint(None, env) == "http://127.0.0.1:9000"
    assert resolve_endpoint("http://localhost:8080", env) == "http://localhost:8080"
    assert resolve_endpoint(None, {}) is None
    with pytest.raises(UserError, match="RECONCILER_API_ENDPOINT: 'localhost:80' is not an http"):
        resolve_endpoint(None, {"RECONCILER_API_ENDPOINT": "localhost:80"})


def test_connect_sends_both_apis_to_the_override_with_emulator_credentials():
    api = Api()
    seen_urls = []

    def record(request):
        seen_urls.append(str(request.url))
        return api(request)
    with connect({"vertex", "gemini-api"}, api_endpoint="http://127.0.0.1:7777", emulator=True,
                 env={}, transport=httpx.MockTransport(record)) as clients:
        clients.get("vertex").get_tuning_job("projects/p/locations/europe-west4/tuningJobs/1")
        clients.get("gemini-api").get_tuned_model("tunedModels/bot-0123abcd")
    assert seen_urls == ["http://127.0.0.1:7777/v1/projects/p/locations/europe-west4/tuningJobs/1",
                         "http://127.0.0.1:7777/v1beta/tunedModels/bot-0123abcd"]
    assert api.seen[0]["authorization"] == "Bearer emulator-token"
    assert api.seen[1]["x-goog-api-key"] == "emulator-key"
    assert clients.get("vertex").session.limiter is clients.get("gemini-api").session.limiter


def test_connect_reports_missing_credentials_only_for_platforms_asked_for(monkeypatch, tmp_path):
    with connect({"gemini-api"}, env={"GEMINI_API_KEY": "k"}) as clients:
        assert clients.get("vertex") is None and clients.get("gemini-api") is not None
    # google.auth.default reads os.environ itself: point it at a missing file so it fails at once, offline.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(UserError, match="no credentials for Vertex AI"):
        connect({"vertex"}, env={})
