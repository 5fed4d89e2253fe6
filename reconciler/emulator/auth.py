"""Who may call: bearer tokens that expire, the OAuth token endpoint that issues them, and the Gemini API's quota
project rule.

- `--token-lifetime SECONDS`: a bearer token the emulator did not issue (a static one, as from
  `gcloud auth print-access-token`) lives that many virtual seconds from its first use; then every call with it
  answers 401 UNAUTHENTICATED, reason ACCESS_TOKEN_EXPIRED, in Google's wording. Without the flag they never expire.
- `POST /token` (grant_type `urn:ietf:params:oauth:grant-type:jwt-bearer`, the grant google-auth's
  `service_account.Credentials` sends to its key file's `token_uri`): the assertion is parsed and checked (three
  base64url parts, RS256, `iss`, `aud`, `iat`/`exp` within an hour, not expired) but its signature is NOT verified
  (the emulator has no registry of service-account keys and uses the standard library only). The token issued
  lives `--token-lifetime` virtual seconds (3600 without the flag) and says so in `expires_in`.
- A Gemini API call authenticated by a bearer token that this endpoint did not issue (a user's token) must carry
  `x-goog-user-project`, as Google requires of user credentials; service-account tokens and API keys need not.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from urllib.parse import parse_qsl

from .rpc import Reply, RpcError, error_info

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ISSUED_LIFETIME = 3600.0      # what Google's token endpoint gives a service account (expires_in 3599-3600)
MAX_ASSERTION_LIFETIME = 3600  # google-auth signs assertions valid for one hour; Google refuses longer
EXPIRED_MESSAGE = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
                   "other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")
QUOTA_PROJECT_MESSAGE = (
    "Your application is authenticating by using local Application Default Credentials. The "
    "generativelanguage.googleapis.com API requires a quota project, which is not set by default. To learn how to "
    "set your quota project, see https://cloud.google.com/docs/authentication/adc-troubleshooting/user-creds .")
GEMINI_SERVICE = "generativelanguage.googleapis.com"


class Auth:
    """Token lifetimes on the virtual clock, and the token grants (counted: `grants`)."""

    def __init__(self, token_lifetime: float | None = None) -> None:
        self.token_lifetime = token_lifetime
        self._issued: dict[str, float] = {}        # token this endpoint issued -> virtual expiry
        self._first_use: dict[str, float] = {}     # any other bearer token -> virtual time of its first use
        self._lock = threading.Lock()
        self.grants = 0

    # ------------------------------------------------------------------ API calls
    def check(self, api_name: str, headers: dict[str, str], service: str, now: float) -> None:
        """Raise the refusal Google would answer for this call's bearer token (if any), else return."""
        token = bearer(headers)
        if token is None:
            return
        with self._lock:
            expiry = self._issued.get(token)
            issued = expiry is not None
            if expiry is None and self.token_lifetime is not None:
                expiry = self._first_use.setdefault(token, now) + self.token_lifetime
        if expiry is not None and now >= expiry:
            raise RpcError("UNAUTHENTICATED", EXPIRED_MESSAGE,
                           [error_info("ACCESS_TOKEN_EXPIRED", "googleapis.com",
                                       {"service": service, "method": api_name})])
        if service == GEMINI_SERVICE and not issued and not headers.get("x-goog-api-key") \
                and not headers.get("x-goog-user-project"):
            raise RpcError("PERMISSION_DENIED", QUOTA_PROJECT_MESSAGE,
                           [error_info("SERVICE_DISABLED", "googleapis.com",
                                       {"service": GEMINI_SERVICE, "consumer": "projects/764086051850"})])

    # ------------------------------------------------------------------ the token endpoint
    def grant(self, raw_body: bytes, now: float, wall: float) -> Reply:
        """`POST /token`: an OAuth 2 token response, or an OAuth 2 error (`{"error", "error_description"}`)."""
        form = dict(parse_qsl(raw_body.decode("utf-8", "replace"), keep_blank_values=True))
        if form.get("grant_type") != JWT_BEARER:
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type', '')}")
        problem = assertion_problem(form.get("assertion", ""), wall)
        if problem:
            return _oauth_error("invalid_grant", problem)
        lifetime = self.token_lifetime if self.token_lifetime is not None else ISSUED_LIFETIME
        token = "ya29.emulator-" + secrets.token_urlsafe(24)
        with self._lock:
            self._issued[token] = now + lifetime
            self.grants += 1
        return Reply(200, {"access_token": token, "expires_in": int(lifetime), "token_type": "Bearer"})

    def reset(self) -> None:
        with self._lock:
            self._issued.clear()
            self._first_use.clear()
            self.grants = 0


def bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    if value[:7].lower() == "bearer " and value[7:].strip():
        return value[7:].strip()
    return None


def assertion_problem(assertion: str, wall: float) -> str:
    """Why a JWT assertion is refused ("" when it is acceptable); the signature itself is not verified."""
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
    try:
        header, claims = (json.loads(_b64(part)) for part in parts[:2])
        _b64(parts[2])
    except (ValueError, UnicodeDecodeError):
        return "Invalid JWT: not three base64url-encoded parts with a JSON header and claim set."
    if not isinstance(header, dict) or not isinstance(claims, dict) or header.get("alg") != "RS256":
        return "Invalid JWT: the header must be a JSON object with alg RS256."
    for claim in ("iss", "aud"):
        if not isinstance(claims.get(claim), str) or not claims[claim]:
            return f"Invalid JWT: No valid '{claim}' claim."
    issued, expires = claims.get("iat"), claims.get("exp")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (issued, expires)) \
            or not 0 < expires - issued <= MAX_ASSERTION_LIFETIME or issued > wall + 300 or expires <= wall:
        return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. " \
               "Check your iat and exp values in the JWT claim."
    return ""


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _oauth_error(error: str, description: str) -> Reply:
    return Reply(400, {"error": error, "error_description": description})
