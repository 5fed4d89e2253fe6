"""The lock's JSON text, fast: exactly `json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False,
allow_nan=False)`, for the plain values a lock is made of.

With `indent`, the standard library encodes in pure Python through nested generators (CPython 3.11 has no C
encoder for indented output), and an apply encodes a lock entry after every create it records: that encoder
was a tenth of the CPU of an apply. This one writes the same text with one recursive function over the exact
types a lock holds (str, int, float, bool, None, dict with string keys, list, tuple), strings escaped by the
standard library's own C escaper; anything else (a subclass, a non-string key, a non-finite float, a cycle)
is handed to `json.dumps` itself, so that odd values get its very text or its very error.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring  # the escaper json.dumps uses with ensure_ascii=False
from typing import Any

_INDENT = "  "
_INFINITY = float("inf")


class _Unusual(Exception):
    """A value this encoder leaves to `json.dumps`."""


def dumps(value: Any) -> str:
    """`json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)`, the same text."""
    out: list[str] = []
    try:
        _write(value, out, "\n")
    except (_Unusual, RecursionError, TypeError):  # TypeError: keys that cannot be sorted together
        return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return "".join(out)


def _write(value: Any, out: list[str], newline: str) -> None:
    """Append the text of `value` to `out`; `newline`: a newline and the indentation of the line `value` is on."""
    kind = type(value)
    if kind is str:
        out.append(encode_basestring(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is float:
        if value != value or value in (_INFINITY, -_INFINITY):
            raise _Unusual  # json.dumps raises its own ValueError for it
        out.append(float.__repr__(value))
    elif kind is dict:
        _write_dict(value, out, newline)
    elif kind is list or kind is tuple:
        _write_list(value, out, newline)
    else:
        raise _Unusual


def _write_dict(value: dict, out: list[str], newline: str) -> None:
    if not value:
        out.append("{}")
        return
    inner = newline + _INDENT
    separator = "{" + inner
    for key in sorted(value):  # string keys sort as json.dumps sorts them
        if type(key) is not str:
            raise _Unusual  # json.dumps spells (and sorts) other keys its own way
        out.append(separator)
        out.append(encode_basestring(key))
        out.append(": ")
        _write(value[key], out, inner)
        separator = "," + inner
    out.append(newline)
    out.append("}")


def _write_list(value: list | tuple, out: list[str], newline: str) -> None:
    if not value:
        out.append("[]")
        return
    inner = newline + _INDENT
    separator = "[" + inner
    for item in value:
        out.append(separator)
        _write(item, out, inner)
        separator = "," + inner
    out.append(newline)
    out.append("]")
