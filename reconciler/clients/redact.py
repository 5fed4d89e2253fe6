"""Credentials never reach a message: URLs lose their userinfo and credential query parameters, and any secret a
request carried is scrubbed from server text before it reaches an exception or a log line."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

SECRET_QUERY_PARAMS = frozenset({"key", "access_token", "token", "api_key"})
SECRET_HEADERS = ("authorization", "x-goog-api-key", "proxy-authorization")
REDACTED = "[REDACTED]"

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@]*@")
_SECRET_PARAM = re.compile(r"(?i)([?&;](?:" + "|".join(sorted(SECRET_QUERY_PARAMS)) + r")=)[^&#\s'\"]*")


def redact_url(url: str | httpx.URL) -> str:
    """The URL without userinfo (`user:password@`) and without credential parameters (`key=`, `access_token=`)."""
    text = str(url)
    try:
        parts = urlsplit(text)
        netloc = parts.netloc
    except ValueError:  # not parseable as a URL (a bad IPv6 literal, ...): scrub it as text
        return redact_text(text)
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in SECRET_QUERY_PARAMS]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))


def redact_text(text: str) -> str:
    """Free text (an exception message) with every URL's userinfo and credential parameters replaced."""
    return _SECRET_PARAM.sub(rf"\1{REDACTED}", _USERINFO.sub(rf"\1{REDACTED}@", text))


def request_secrets(request: httpx.Request) -> list[str]:
    """Every credential a request carried (header values, `key=` parameters, URL userinfo), longest first."""
    found = []
    for name in SECRET_HEADERS:
        value = request.headers.get(name)
        if value:
            found += [value, value.split(" ", 1)[-1]]
    found += [v for k, v in request.url.params.multi_items() if k.lower() in SECRET_QUERY_PARAMS and v]
    found += [request.url.username, request.url.password]
    return sorted({s for s in found if s and len(s) >= 4}, key=len, reverse=True)


def scrub(value: Any, secrets: list[str]) -> Any:
    """`value` (str, list or dict, recursively) with every secret replaced by [REDACTED]."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return redact_text(value)
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: scrub(v, secrets) for k, v in value.items()}
    return value


def host(url: httpx.URL) -> str:
    """Where a request went, without path or query: `scheme://host` (what an auth error names)."""
    return f"{url.scheme}://{url.host}"


def first_line(exc: Exception) -> str:
    """The first line of an exception's message, at most 200 characters (google-auth's run to paragraphs)."""
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.splitlines()[0][:200] if text else type(exc).__name__
