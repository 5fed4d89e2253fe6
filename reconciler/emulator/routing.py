"""The parsed form of one API call, and the helpers both API surfaces use to route it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rpc import RpcError, bad_request
from .schema import camel

# Google system parameters: accepted on every method and ignored (reference: "System query params").
SYSTEM_PARAMS = frozenset({"alt", "fields", "prettyPrint", "$.xgafv", "key", "quotaUser", "access_token",
                           "callback", "uploadType", "upload_protocol", "oauth_token", "userIp"})


@dataclass
class ApiRequest:
    method: str
    segments: list[str]            # decoded path segments after the version, e.g. ["projects", "p", ...]
    version: str                   # "v1", "v1beta1", "v1beta"
    query: dict[str, str]          # camelCased keys, last value wins, system parameters removed
    body: Any                      # parsed JSON (None when the request had no body)
    headers: dict[str, str] = field(default_factory=dict)
    verb: str | None = None        # custom method from the last segment (":cancel" -> "cancel")

    def object_body(self) -> dict[str, Any]:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise bad_request([("", "Invalid JSON payload received. Expected an object.")])
        return self.body


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
