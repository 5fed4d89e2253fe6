"""Credentials as `httpx.Auth`: Application Default Credentials, a static bearer token, an API key.

google-auth has no httpx transport, so `HttpxRequest` adapts `google.auth.transport.Request` to httpx:
token refreshes (and ADC's metadata-server probe) go through httpx like every other call.
No class here shows a secret in its repr, and errors mention only where to fix things, never the value.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Generator, Mapping
from urllib.parse import urlsplit

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport
import httpx

from reconciler.clients.redact import redact_text, redact_url
from reconciler.errors import TransportError, Unauthenticated, UserError

TOKEN_ENV = "GOOGLE_OAUTH_ACCESS_TOKEN"  # the variable Terraform's google provider reads
QUOTA_PROJECT_ENV = "GOOGLE_CLOUD_QUOTA_PROJECT"  # google-auth's variable; reconciler.yaml `quotaProject` below it
API_KEY_ENVS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")  # google-genai's order: GOOGLE_API_KEY wins
ENDPOINT_ENV = "RECONCILER_API_ENDPOINT"
EMULATOR_TOKEN = "emulator-token"
EMULATOR_API_KEY = "emulator-key"


class BearerToken(httpx.Auth):
    """A fixed OAuth access token (never refreshed), with the quota project to bill, if any.

    A 401 means the token expired or was revoked: there is nothing to refresh, so the call fails at once with an
    Unauthenticated that says so and what to do (`source`: where the token came from, for that message)."""

    def __init__(self, token: str, quota_project: str | None = None, source: str = TOKEN_ENV):
        self._token, self.quota_project, self.source = token, quota_project, source

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        if self.quota_project:
            request.headers["x-goog-user-project"] = self.quota_project
        response = yield request
        if response.status_code == 401:
            raise Unauthenticated(
                f"the access token from {self.source} was refused (expired or revoked); it is never refreshed "
                f"(gcloud's last about an hour): set a fresh one, or use Application Default Credentials, which "
                f"refresh themselves", method=request.method, url=_host(request.url), http_status=401)

    def __repr__(self) -> str:
        return "BearerToken(<redacted>)"


class ApiKey(httpx.Auth):
    """A Gemini API key, sent as `x-goog-api-key` (never as `?key=`, which would end up in URLs and logs)."""

    def __init__(self, key: str):
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["x-goog-api-key"] = self._key
        yield request

    def __repr__(self) -> str:
        return "ApiKey(<redacted>)"


class HttpxRequest(google.auth.transport.Request):
    """google-auth's transport interface over an `httpx.Client` (used for token refreshes)."""

    def __init__(self, client: httpx.Client, *, timeout: float = 30.0):
        self.client, self.timeout = client, timeout

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        try:
            response = self.client.request(method, url, content=body, headers=headers,
                                           timeout=timeout or self.timeout)
        except httpx.HTTPError as exc:
            raise google.auth.exceptions.TransportError(f"{type(exc).__name__}: {exc}") from None
        return _AuthResponse(response)


class _AuthResponse:  # google.auth.transport.Response
    def __init__(self, response: httpx.Response):
        self.status = response.status_code
        self.headers = dict(response.headers)
        self.data = response.content


class GoogleCredentials(httpx.Auth):
    """google-auth credentials (ADC, service account, user) as an `httpx.Auth`.

    Refreshes before a request when the token is missing or expired, and once more after a 401.
    `before_request` also adds `x-goog-user-project` when the credentials carry a quota project; `quota_project`
    (GOOGLE_CLOUD_QUOTA_PROJECT, else reconciler.yaml `quotaProject`) replaces theirs.
    """

    def __init__(self, credentials: google.auth.credentials.Credentials, token_client: httpx.Client,
                 quota_project: str | None = None):
        if quota_project and isinstance(credentials, google.auth.credentials.CredentialsWithQuotaProject):
            credentials = credentials.with_quota_project(quota_project)
        self.credentials = credentials
        self._request = HttpxRequest(token_client)
        self._lock = threading.Lock()  # workers share one credentials object; refresh it once

    def __repr__(self) -> str:
        return f"GoogleCredentials({type(self.credentials).__name__})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._apply(request, force_refresh=False)
        response = yield request
        if response.status_code == 401:
            self._apply(request, force_refresh=True)
            yield request

    def _apply(self, request: httpx.Request, *, force_refresh: bool) -> None:
        headers: dict[str, str] = {}
        with self._lock:
            try:
                if force_refresh:
                    self.credentials.refresh(self._request)
                self.credentials.before_request(self._request, request.method, str(request.url), headers)
            except google.auth.exceptions.TransportError as exc:
                raise TransportError(f"could not reach the token endpoint: {redact_text(str(exc))}",
                                     method=request.method,
                                     url=_host(request.url)) from None
            except google.auth.exceptions.RefreshError as exc:
                raise Unauthenticated(
                    f"could not refresh Google credentials ({_first_line(exc)}); run "
                    "`gcloud auth application-default login` or set GOOGLE_OAUTH_ACCESS_TOKEN",
                    method=request.method, url=_host(request.url)) from None
        request.headers.update(headers)


def api_key(env: Mapping[str, str]) -> ApiKey | None:
    """An API key from the environment (GOOGLE_API_KEY wins over GEMINI_API_KEY, as in google-genai)."""
    key = next((env[name] for name in API_KEY_ENVS if env.get(name)), None)
    return ApiKey(key) if key else None


def quota_project(env: Mapping[str, str], configured: str | None = None) -> str | None:
    """The project to bill OAuth calls to: GOOGLE_CLOUD_QUOTA_PROJECT, else reconciler.yaml `quotaProject`, else
    None (ADC's own quota project, if it carries one, still applies)."""
    return env.get(QUOTA_PROJECT_ENV) or configured or None


def oauth(env: Mapping[str, str], scopes: tuple[str, ...], *, token_client: httpx.Client, no_credentials: str,
          adc: Callable[..., tuple[google.auth.credentials.Credentials, str | None]] = google.auth.default,
          ) -> httpx.Auth:
    """GOOGLE_OAUTH_ACCESS_TOKEN, else Application Default Credentials for `scopes`; else a UserError that
    starts with `no_credentials` (what to do). The quota project is `quota_project(env)` (connect puts
    reconciler.yaml's in `env`)."""
    billed = quota_project(env)
    if env.get(TOKEN_ENV):
        return BearerToken(env[TOKEN_ENV], billed)
    try:
        credentials, _project = adc(scopes=list(scopes), request=HttpxRequest(token_client, timeout=3.0))
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise UserError(f"{no_credentials} (Application Default Credentials: {_first_line(exc)})") from None
    return GoogleCredentials(credentials, token_client, billed)


def resolve_endpoint(flag: str | None, env: Mapping[str, str] | None = None) -> str | None:
    """`--api-endpoint URL`, else RECONCILER_API_ENDPOINT: one server for every call of both APIs."""
    env = os.environ if env is None else env
    endpoint = flag or env.get(ENDPOINT_ENV) or None
    if endpoint is None:
        return None
    try:
        parts = urlsplit(endpoint)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 1) > 0
        httpx.URL(endpoint)
    except (ValueError, httpx.InvalidURL):
        valid = False
    if not valid:
        source = "--api-endpoint" if flag else ENDPOINT_ENV
        raise UserError(f"{source}: {redact_url(endpoint)!r} is not an http(s) URL; "
                        "expected e.g. http://127.0.0.1:8080")
    return endpoint.rstrip("/")


def _host(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.host}"


def _first_line(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.splitlines()[0][:200] if text else type(exc).__name__
