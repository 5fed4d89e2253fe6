"""Application Default Credentials, through google-auth: imported only when a run has no access token or API
key to use (`auth.oauth`), since importing google-auth is a tenth of a CLI run's start-up.

google-auth has no httpx transport, so `HttpxRequest` adapts `google.auth.transport.Request` to httpx, and
`GoogleCredentials` is its credentials as an `httpx.Auth` (refreshed before a request and after a 401).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator

import google.auth
import google.auth.credentials
import google.auth.exceptions
import google.auth.transport
import httpx

from reconciler.clients.redact import first_line, host, redact_text
from reconciler.errors import TransportError, Unauthenticated, UserError


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
                                     url=host(request.url)) from None
            except google.auth.exceptions.RefreshError as exc:
                raise Unauthenticated(
                    f"could not refresh Google credentials ({first_line(exc)}); run "
                    "`gcloud auth application-default login` or set GOOGLE_OAUTH_ACCESS_TOKEN",
                    method=request.method, url=host(request.url)) from None
        request.headers.update(headers)



def credentials(scopes: tuple[str, ...], *, token_client: httpx.Client, no_credentials: str,
                adc: Callable[..., tuple[google.auth.credentials.Credentials, str | None]] | None = None,
                quota_project: str | None = None) -> GoogleCredentials:
    """Application Default Credentials for `scopes` (`adc`: google.auth.default unless given), billed to
    `quota_project`; else a UserError that starts with `no_credentials` (what to do)."""
    try:
        found, _project = (adc or google.auth.default)(scopes=list(scopes),
                                                       request=HttpxRequest(token_client, timeout=3.0))
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise UserError(f"{no_credentials} (Application Default Credentials: {first_line(exc)})") from None
    return GoogleCredentials(found, token_client, quota_project)
