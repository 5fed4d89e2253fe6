"""Credentials never enter the request log: secret-bearing query parameters (`key`, `access_token`, ...) and
fields of recorded bodies are replaced by `REDACTED`. Request headers are not recorded at all."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, unquote_plus

REDACTED = "REDACTED"
# Names compared lower-cased with "-" as "_" and camelCase split ("apiKey" -> "api_key").
SECRET_NAMES = frozenset({
    "key", "api_key", "apikey", "x_goog_api_key", "access_token", "oauth_token", "id_token", "refresh_token",
    "bearer_token", "token", "auth", "authorization", "proxy_authorization", "client_secret", "secret",
    "password", "passwd", "pwd", "session_token", "security_token", "private_key", "credential", "credentials",
    "sig", "signature", "x_goog_signature", "x_goog_credential", "x_amz_signature", "x_amz_credential",
    "x_amz_security_token", "cookie", "set_cookie"})


def is_secret(name: str) -> bool:
    normal = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name.strip()).lower().replace("-", "_").lstrip("$")
    return normal in SECRET_NAMES


def redact_query(raw_query: str) -> str:
    """The query string as logged (percent-decoded), each secret parameter's value replaced by REDACTED."""
    parts = []
    for part in raw_query.split("&") if raw_query else []:
        name, equals, _ = part.partition("=")
        parts.append(f"{name}={REDACTED}" if equals and is_secret(unquote_plus(name)) else part)
    return unquote("&".join(parts))


def redact_body(value: Any) -> Any:
    """A copy of a JSON body with the value of every secret-named field replaced by REDACTED (label maps are
    user data, not credentials, and are kept as they are)."""
    if isinstance(value, dict):
        return {k: v if k == "labels" else REDACTED if isinstance(k, str) and is_secret(k) and v not in (None, "")
                else redact_body(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_body(v) for v in value]
    return value
