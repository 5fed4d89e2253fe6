"""Credentials as `httpx.Auth`: a static bearer token, an API key, or Application Default Credentials (`adc`,
through google-auth, imported only when needed).

Token refreshes (and ADC's metadata-server probe) go through httpx like every other call.
No class here shows a secret in its repr, and errors mention only where to fix things, never the value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator, Mapping
from urllib.parse import urlsplit

from typing import Any

import httpx

from reconciler.clients.redact import host, redact_url
from reconciler.errors import Unauthenticated, UserError

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
                f"refresh themselves", method=request.method, url=host(request.url), http_status=401)

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


def api_key(env: Mapping[str, str]) -> ApiKey | None:
    """An API key from the environment (GOOGLE_API_KEY wins over GEMINI_API_KEY, as in google-genai)."""
    key = next((env[name] for name in API_KEY_ENVS if env.get(name)), None)
    return ApiKey(key) if key else None


def quota_project(env: Mapping[str, str], configured: str | None = None) -> str | None:
    """The project to bill OAuth calls to: GOOGLE_CLOUD_QUOTA_PROJECT, else reconciler.yaml `quotaProject`, else
    None (ADC's own quota project, if it carries one, still applies)."""
    return env.get(QUOTA_PROJECT_ENV) or configured or None


def oauth(env: Mapping[str, str], scopes: tuple[str, ...], *, token_client: httpx.Client, no_credentials: str,
          adc: Callable[..., tuple[Any, str | None]] | None = None) -> httpx.Auth:
    """GOOGLE_OAUTH_ACCESS_TOKEN, else Application Default Credentials for `scopes` (`adc`: google.auth.default
    unless given); else a UserError that starts with `no_credentials` (what to do). The quota project is
    `quota_project(env)` (connect puts reconciler.yaml's in `env`). google-auth is imported only for ADC: a
    token or a key needs none of it (a tenth of a CLI run's start-up)."""
    billed = quota_project(env)
    if env.get(TOKEN_ENV):
        return BearerToken(env[TOKEN_ENV], billed)
    from reconciler.clients import adc as application_default

    return application_default.credentials(scopes, token_client=token_client, no_credentials=no_credentials,
                                           adc=adc, quota_project=billed)


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
