"""JSON encoding of API replies, and list items rendered once: the list hot path.

A page of 1,000 tuning jobs, models or endpoints is about 1 MB of JSON; building the views, re-selecting the
page's items among every stored record and encoding them were nearly all the CPU a page cost, and clients read
the same pages again and again (every plan refreshes every managed listing). So a list keeps what it derives
from the state in the store's memo (`Store.memo`, emptied by every mutation): the members and the filtered,
ordered selection of a collection under one parent, and each item's view with its encoding. The reply then
splices the encoded items into the body (`payload`), byte for byte what encoding the whole body gives.
Only what is a function of the stored state may be kept: a view or selection that also depends on the virtual
clock (a tuning job on its way) is computed again on every call, exactly as before."""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable
from json import encoder as _json
from typing import Any, TypeVar

T = TypeVar("T")


def _not_json(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _plain_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _c_encoder() -> Callable[[Any], bytes]:
    """json.dumps(separators=(",", ":"), ensure_ascii=False) builds an encoder per call, a cost that shows when
    a page encodes 1,000 items one by one; the C encoder behind it is built once here (json's own fast path,
    same arguments) and checked against json.dumps, else json.dumps is used. It keeps no circular-reference
    markers: one markers dict would be shared by the server's threads, and reply bodies are trees."""
    make = getattr(_json, "c_make_encoder", None)
    if make is None:
        return _plain_dumps
    try:
        encode = make(None, _not_json, _json.encode_basestring, None, ":", ",", False, False, True)

        def dumps(value: Any) -> bytes:
            return "".join(encode(value, 0)).encode("utf-8")

        sample = {"a": [1, 2.5, None, True, "é\n\"\u2028"], "b": {"c": -0.0, "d": 10**20}, "e": ""}
        if dumps(sample) == _plain_dumps(sample):
            return dumps
    except Exception:  # noqa: BLE001 - another json implementation: the documented path still works
        pass
    return _plain_dumps


dumps: Callable[[Any], bytes] = _c_encoder()    # compact UTF-8 JSON, as every reply is encoded


class Rendered(list):  # type: ignore[type-arg]
    """A JSON array of views that comes with each view's encoding: `payload` splices `encoded` in rather than
    encoding the views again. As a list it holds the views themselves, so everything else sees a plain body."""

    __slots__ = ("encoded",)

    def __init__(self, views: list[Any], encoded: list[bytes]) -> None:
        super().__init__(views)
        self.encoded = encoded


def payload(body: Any) -> bytes:
    """The encoding of a JSON reply body; a top-level `Rendered` value is spliced in from its encodings."""
    if type(body) is dict and any(type(value) is Rendered for value in body.values()) \
            and all(type(key) is str for key in body):
        members = [dumps(key) + b":" + (b"[" + b",".join(value.encoded) + b"]" if type(value) is Rendered
                                        else dumps(value)) for key, value in body.items()]
        return b"{" + b",".join(members) + b"}"
    return dumps(body)


def memoized(memo: dict[Any, Any], key: Hashable, compute: Callable[[], T]) -> T:
    """memo[key], computed first when absent. What is returned is shared: callers must not modify it."""
    if key not in memo:
        memo[key] = compute()
    return memo[key]  # type: ignore[no-any-return]


def render_all(memo: dict[Any, Any], items: Iterable[Any], key: Callable[[Any], Hashable | None],
               view: Callable[[Any], Any]) -> Rendered:
    """The views of `items` with their encodings; kept in `memo` under `key(item)`, or built every time when
    that is None (a view that depends on more than the stored state)."""
    views: list[Any] = []
    encoded: list[bytes] = []
    for item in items:
        name = key(item)
        hit = memo.get(name) if name is not None else None
        if hit is None:
            built = view(item)
            hit = (built, dumps(built))
            if name is not None:
                memo[name] = hit
        views.append(hit[0])
        encoded.append(hit[1])
    return Rendered(views, encoded)
