"""Declarative routing shared by both API surfaces: the parsed form of one call (`ApiRequest`), route patterns
(`Route`), and `Api`, one surface's table of routes. The tables themselves are in `app.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .rpc import RpcError, bad_request
from .schema import camel

# Google system parameters: accepted on every method and ignored (reference: "System query params").
SYSTEM_PARAMS = frozenset({"alt", "fields", "prettyPrint", "$.xgafv", "key", "quotaUser", "access_token",
                           "callback", "uploadType", "upload_protocol", "oauth_token", "userIp"})
NO_QUERY: frozenset[str] = frozenset()


@dataclass
class ApiRequest:
    method: str
    segments: list[str]            # decoded path segments after the version, e.g. ["projects", "p", ...]
    version: str                   # "v1", "v1beta1", "v1beta"
    query: dict[str, str]          # camelCased keys, last value wins, system parameters removed
    body: Any                      # parsed JSON (None when the request had no body)
    headers: dict[str, str] = field(default_factory=dict)
    verb: str | None = None        # custom method from the last segment (":cancel" -> "cancel")
    params: dict[str, str] = field(default_factory=dict)   # the `{name}` segments of the matched route

    def object_body(self) -> dict[str, Any]:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise bad_request([("", "Invalid JSON payload received. Expected an object.")])
        return self.body

    def update_mask(self) -> list[str]:
        """The `updateMask` query parameter as camelCase field paths (empty items dropped)."""
        return [camel(path.strip()) for path in self.query.get("updateMask", "").split(",") if path.strip()]


Handler = Callable[[ApiRequest, float], Any]       # (request, virtual now) -> JSON response body
_ANY_VERB = object()


class Route:
    """One row of a route table. `method` is an HTTP method or "*" (any). `pattern` spells the path segments
    after the version: a literal, `{name}` (any one segment, captured into `request.params`), `{name=a|b}`
    (one of those, captured), or a final `**` (any further segments, not captured). The last segment may end
    in `:verb` (that custom method) or `:*` (any custom method, or none); without a suffix, the call has none.
    `versions` narrows the API versions the route exists in (default: all of its API's)."""

    __slots__ = ("method", "pattern", "handler", "versions", "_parts", "_verb", "_open")

    def __init__(self, method: str, pattern: str, handler: Handler, versions: frozenset[str] | None = None) -> None:
        self.method, self.pattern, self.handler, self.versions = method, pattern, handler, versions
        path, colon, verb = pattern.rpartition(":") if ":" in pattern else (pattern, "", "")
        self._verb: object = (_ANY_VERB if verb == "*" else verb) if colon else None
        parts = path.split("/")
        self._open = parts[-1] == "**"
        if self._open:
            parts = parts[:-1]
        self._parts: list[tuple[str, str | None, frozenset[str] | None]] = []   # (literal, name, choices)
        for part in parts:
            if part.startswith("{") and part.endswith("}"):
                name, _, choices = part[1:-1].partition("=")
                self._parts.append(("", name, frozenset(choices.split("|")) if choices else None))
            else:
                self._parts.append((part, None, None))

    def match(self, request: ApiRequest) -> dict[str, str] | None:
        """The captured segments when `request` takes this route, else None."""
        if (self.method != "*" and self.method != request.method) \
                or (self._verb is not _ANY_VERB and self._verb != request.verb) \
                or (self.versions is not None and request.version not in self.versions):
            return None
        segments = request.segments
        if len(segments) != len(self._parts) and not (self._open and len(segments) > len(self._parts)):
            return None
        params: dict[str, str] = {}
        for (literal, name, choices), segment in zip(self._parts, segments):
            if name is None:
                if segment != literal:
                    return None
            elif choices is not None and segment not in choices:
                return None
            else:
                params[name] = segment
        return params

    def __repr__(self) -> str:
        return f"Route({self.method} {self.pattern})"


Credentials = Callable[[dict[str, str], list[tuple[str, str]]], bool]   # (headers, raw query pairs) -> ok


@dataclass(frozen=True)
class Api:
    """One API surface: the versions and first path segment it answers, the credentials it wants (else 401
    with `unauthenticated` as the message), and its routes, tried in order (the first match serves)."""

    name: str
    versions: frozenset[str]
    root: str
    credentials: Credentials
    unauthenticated: str
    routes: tuple[Route, ...]

    def owns(self, version: str, segments: list[str]) -> bool:
        return version in self.versions and segments[:1] == [self.root]

    def dispatch(self, request: ApiRequest, now: float) -> Any:
        for route in self.routes:
            params = route.match(request)
            if params is not None:
                request.params = params
                return route.handler(request, now)
        raise no_route(request)


def split_verb(segments: list[str]) -> tuple[list[str], str | None]:
    """Custom methods are routed by the suffix of the LAST segment only (names may contain '@')."""
    if not segments or ":" not in segments[-1]:
        return segments, None
    head, _, verb = segments[-1].partition(":")
    return segments[:-1] + [head], verb


def clean_query(pairs: list[tuple[str, str]]) -> dict[str, str]:
    query: dict[str, str] = {}
    for key, value in pairs:
        bare = key[1:] if key.startswith("$") and key != "$.xgafv" else key
        if key in SYSTEM_PARAMS or bare in SYSTEM_PARAMS:
            continue
        query[camel(key)] = value
    return query


def check_query(query: dict[str, str], allowed: frozenset[str] | set[str]) -> None:
    unknown = [key for key in query if key not in allowed]
    if unknown:
        key = unknown[0]
        raise bad_request([(key, f"Invalid JSON payload received. Unknown name \"{key}\": Cannot bind query "
                                 f"parameter. Field '{key}' could not be found in request message.")])


def no_route(request: ApiRequest) -> RpcError:
    # Google front ends answer an unmatched URL/method pair with 404 (there is no http rule to map it).
    path = "/".join(request.segments)
    suffix = f":{request.verb}" if request.verb else ""
    return RpcError("NOT_FOUND", f"No method {request.method} /{request.version}/{path}{suffix} "
                                 "exists in this API.")
