"""Typed reading of the APIs' JSON resources: every field a platform reads is checked to be what the published
shapes say (a `name` string where one is required, label maps of strings, lists of objects, finite numbers), and
anything else is a `BadResponse` naming the resource and the field, never a KeyError or a silent default.

Each check returns its value, so a decoder reads and validates in one pass; absent (or null) optional fields
read as None / {} / [].
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from reconciler.errors import BadResponse

T = TypeVar("T")
_INT64 = re.compile(r"-?[0-9]+")
_STRINGS = frozenset({str})


def at(method: str, url: str, decoder: Callable[[Any], T], data: Any) -> T:
    """`decoder(data)`, a BadResponse it raises naming the call that answered `data` (its URL without secrets)."""
    try:
        return decoder(data)
    except BadResponse as err:
        if err.method:
            raise
        from reconciler.clients.redact import redact_url  # only on this path: the core imports no HTTP module

        raise BadResponse(err.api_message, method=method, url=redact_url(url)) from None


def resource(data: Any, what: str) -> dict:
    """`data` as a JSON object, or a BadResponse."""
    if not isinstance(data, dict):
        _wrong(what, "", data, "an object")
    return data


def name(data: dict, what: str) -> str:
    """The required, non-empty `name` string of a resource."""
    value = data.get("name")
    if not isinstance(value, str) or not value:
        _wrong(what, "name", value, "a non-empty string (required)")
    return value


def string(data: dict, key: str, what: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if (value is not None or required) and not (isinstance(value, str) and (value or not required)):
        _wrong(what, key, value, "a non-empty string" if required else "a string")
    return value


def number(data: dict, key: str, what: str) -> float | None:
    """A finite JSON number (not a boolean)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        _wrong(what, key, value, "a finite number")
    return value


def int64(data: dict, key: str, what: str) -> int | None:
    """A JSON int64: proto3 JSON sends it as a decimal string, some servers as a number (never a boolean)."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, str) and _INT64.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    _wrong(what, key, value, "an int64")


def boolean(data: dict, key: str, what: str) -> bool | None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        _wrong(what, key, value, "true or false")
    return value


def obj(data: dict, key: str, what: str) -> dict:
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        _wrong(what, key, value, "an object")
    return value


def objects(data: dict, key: str, what: str) -> list[dict]:
    """A list of objects."""
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        _wrong(what, key, value, "a list of objects")
    return value


def labels(data: dict, key: str, what: str) -> dict[str, str]:
    """A map of strings to strings (resource labels)."""
    value = obj(data, key, what)
    # the types of keys and values collected in C first: at 10,000 listed resources a Python test per label was
    # a tenth of a refresh. A str subclass (never parsed JSON) is still a string, by the test that follows.
    exact = _STRINGS.issuperset(map(type, value)) and _STRINGS.issuperset(map(type, value.values()))
    if not exact and not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        _wrong(what, key, value, "a map of strings")
    return value


def status(data: dict, key: str, what: str) -> dict:
    """A google.rpc.Status object (`error`): its `message`, if any, a string."""
    value = obj(data, key, what)
    string(value, "message", f"{what}'s {key}")
    return value


def _wrong(what: str, key: str, value: Any, expected: str) -> NoReturn:
    field = f"`{key}` " if key else ""
    found = "missing" if value is None else f"a {_json_type(value)}"
    raise BadResponse(f"the server answered {what} whose {field}is {found}; expected {expected}")


def _json_type(value: Any) -> str:
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "list", dict: "object"}.get(
        type(value), type(value).__name__)
