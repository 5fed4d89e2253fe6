"""`objects.list`: names in lexicographic (UTF-8 byte) order, filtered by `prefix`, rolled up into `prefixes` at
the first `delimiter` after the prefix, `maxResults` (1-1000, default 1000) entries per page counting items and
prefixes together, and an opaque `pageToken` naming the last entry of the previous page."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from typing import Any

from .errors import invalid
from .resource import int64

MAX_RESULTS = 1000


def _token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode("utf-8")).decode("ascii")


def _after(token: str | None) -> str | None:
    if token is None:
        return None
    try:
        return base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise invalid(f"Invalid pageToken {token[:40]!r}: pass back a nextPageToken unchanged.",
                      "pageToken") from None


def page(names: Iterable[str], query: dict[str, str], render: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """One page of a listing of `names` (any order); `render(name)` is the resource of one object."""
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter") or None
    size = int64(query, "maxResults")
    size = MAX_RESULTS if size is None else size
    if size < 1:
        raise invalid("maxResults must be a positive integer.", "maxResults")
    size = min(size, MAX_RESULTS)
    after = _after(query.get("pageToken"))
    items: list[dict[str, Any]] = []
    prefixes: list[str] = []
    last: str | None = None
    result: dict[str, Any] = {"kind": "storage#objects"}
    for name in sorted(name for name in names if name.startswith(prefix)):
        key, rolled = name, False
        if delimiter is not None:
            cut = name.find(delimiter, len(prefix))
            if cut >= 0:
                key, rolled = name[:cut + len(delimiter)], True
        if (after is not None and key <= after) or key == last:
            continue
        if len(items) + len(prefixes) == size:
            result["nextPageToken"] = _token(last or "")
            break
        last = key
        if rolled:
            prefixes.append(key)
        else:
            items.append(render(name))
    if items:
        result["items"] = items
    if prefixes:
        result["prefixes"] = prefixes
    return result
