"""Tolerant proto3-JSON input coercion: camelCase or snake_case keys, enum names or numbers,
int64 as strings or numbers. Unknown fields are rejected the way Google's JSON parser does
("Invalid JSON payload received. Unknown name ..."), output-only fields are silently dropped.

A spec is one of: a scalar kind name ("string", "bool", "int32", "int64", "double"), an `Enum`,
`LIST(spec)`, `MAP` (map<string,string>, keys untouched), `MAPOF(spec)` (map<string, spec>), `OUT` (output
only: dropped), `ANY` (opaque nested object, keys camelCased), `VALUE` (any JSON value, e.g. a
google.protobuf.Value, kept as sent), or a `dict` of camelCase field name -> spec (a message).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

OUT = "out"
ANY = "any"
MAP = "map"
VALUE = "value"


@dataclass(frozen=True)
class Enum:
    type_name: str
    numbers: dict[str, int]

    def name_of(self, value: Any) -> str | None:
        if isinstance(value, bool):
            return None
        if isinstance(value, str):
            if value in self.numbers:
                return value
            if value.lstrip("-").isdigit():
                value = int(value)
            else:
                return None
        if isinstance(value, int):
            for name, number in self.numbers.items():
                if number == value:
                    return name
        return None


@dataclass(frozen=True)
class LIST:
    item: Any


@dataclass(frozen=True)
class MAPOF:
    value: Any


@lru_cache(maxsize=4096)
def camel(key: str) -> str:
    if "_" not in key:
        return key
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@lru_cache(maxsize=4096)
def snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def camel_keys(value: Any) -> Any:
    """Recursively camelCase the keys of an opaque object (proto field names, not map keys)."""
    if isinstance(value, dict):
        return {camel(str(k)): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


class Violations(list):
    """Collects google.rpc.BadRequest field violations as (field path, description)."""

    def add(self, path: str, description: str) -> None:
        self.append((path, description))


def join(path: str, field: str) -> str:
    return f"{path}.{snake(field)}" if path else snake(field)


def coerce(spec: Any, value: Any, path: str, errors: Violations) -> Any:
    """Return the canonical JSON form of `value` under `spec`, recording problems in `errors`."""
    if isinstance(spec, dict):
        return _message(spec, value, path, errors)
    if isinstance(spec, LIST):
        if not isinstance(value, list):
            errors.add(path, f"Invalid value at '{path}': expected a list.")
            return None
        return [coerce(spec.item, item, f"{path}[{i}]", errors) for i, item in enumerate(value)]
    if isinstance(spec, Enum):
        name = spec.name_of(value)
        if name is None:
            errors.add(path, f"Invalid value at '{path}' ({spec.type_name}), {value!r}")
        return name
    if isinstance(spec, MAPOF):
        if not isinstance(value, dict):
            errors.add(path, f"Invalid value at '{path}': expected an object.")
            return None
        return {str(k): coerce(spec.value, v, f"{path}[{k!r}]", errors) for k, v in value.items()}
    if spec == VALUE:
        return value
    if spec == MAP:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            errors.add(path, f"Invalid value at '{path}': expected a map of strings.")
            return None
        return {str(k): v for k, v in value.items()}
    if spec == ANY:
        if not isinstance(value, dict):
            errors.add(path, f"Invalid value at '{path}': expected an object.")
            return None
        return camel_keys(value)
    return _scalar(spec, value, path, errors)


def _message(fields: dict[str, Any], value: Any, path: str, errors: Violations) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        errors.add(path, f"Invalid value at '{path}': expected an object.")
        return None
    result: dict[str, Any] = {}
    for raw_key, item in value.items():
        key = camel(str(raw_key))
        if key not in fields:
            errors.add(path, f"Invalid JSON payload received. Unknown name \"{raw_key}\" at '{path}': "
                             "Cannot find field.")
            continue
        spec = fields[key]
        if spec == OUT or item is None:
            continue  # output-only fields are ignored on input; JSON null means "unset"
        result[key] = coerce(spec, item, join(path, key), errors)
    return result


_INT_RE = re.compile(r"^-?\d+$")


def _scalar(kind: str, value: Any, path: str, errors: Violations) -> Any:
    if kind == "string":
        if not isinstance(value, str):
            errors.add(path, f"Invalid value at '{path}' (TYPE_STRING), {value!r}")
            return None
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            errors.add(path, f"Invalid value at '{path}' (TYPE_BOOL), {value!r}")
            return None
        return value
    if kind in ("int32", "int64"):
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and _INT_RE.match(value.strip()):
            number = int(value.strip())
        if number is None:
            errors.add(path, f"Invalid value at '{path}' (TYPE_{kind.upper()}), {value!r}")
            return None
        # proto3 JSON: int64 is written as a decimal string, int32 as a number
        return str(number) if kind == "int64" else number
    if kind in ("double", "float"):
        number_f: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number_f = float(value)
        elif isinstance(value, str):
            try:
                number_f = float(value)
            except ValueError:
                number_f = None
        if number_f is None or math.isnan(number_f) or math.isinf(number_f):
            errors.add(path, f"Invalid value at '{path}' (TYPE_{kind.upper()}), {value!r}")
            return None
        return int(number_f) if number_f.is_integer() and isinstance(value, int) else number_f
    raise AssertionError(f"unknown spec {kind!r}")


_LABEL_CHARS = re.compile(r"^[\w-]*$")


def label_problems(labels: dict[str, str], path: str = "labels") -> list[tuple[str, str]]:
    """GCP label rules (reference: Labels). Returns violations; empty when valid."""
    problems: list[tuple[str, str]] = []
    if len(labels) > 64:
        problems.append((path, "At most 64 labels are allowed."))
    for key, value in labels.items():
        field = f"{path}[{key!r}]"
        if not key:
            problems.append((field, "Label keys must not be empty."))
            continue
        if key.startswith("aiplatform.googleapis.com/"):
            problems.append((field, "The 'aiplatform.googleapis.com/' label prefix is reserved for system labels."))
            continue
        if len(key) > 64 or len(value) > 64:
            problems.append((field, "Label keys and values can be no longer than 64 characters."))
        if not _valid_label_text(key) or not (key[0].isalpha() and key[0] == key[0].lower()):
            problems.append((field, "Label keys must start with a lowercase letter and contain only lowercase "
                                    "letters, numeric characters, underscores and dashes."))
        if not _valid_label_text(value):
            problems.append((field, "Label values can contain only lowercase letters, numeric characters, "
                                    "underscores and dashes."))
    return problems


def _valid_label_text(text: str) -> bool:
    # \w covers international letters and digits; upper-case letters are refused explicitly.
    return bool(_LABEL_CHARS.match(text)) and text == text.lower()
